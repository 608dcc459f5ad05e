// Package testutil has the helpers that several packages' tests share and
// that need neither the store nor the projection (those that do are in
// projection/projectiontest): a buffer safe for concurrent writes, an HTTP
// getter, generate's stream raw or parsed, a small access_method event
// builder and a webhook signer.
//
// Helpers that take a testing.TB fail the test through it, so they must be
// called from the test's own goroutine; the ones meant for other goroutines
// (Buffer, WriteEndless, Signer.Sign) take none.
package testutil
