package keyring_test

import (
	"bytes"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/keyring"
)

func TestSealOpen(t *testing.T) {
	k, _, err := keyring.Generate()
	require.NoError(t, err)
	dek, wrapped, err := k.NewDataKey()
	require.NoError(t, err)
	plain := []byte(`{"event_type":"access_method.issued","code":"482913"}`)
	aad := []byte("event 1")
	sealed, err := keyring.Seal(dek, plain, aad)
	require.NoError(t, err)
	assert.False(t, bytes.Contains(sealed, []byte("482913")), "sealed bytes hold no clear text")
	again, err := keyring.Seal(dek, plain, aad)
	require.NoError(t, err)
	assert.NotEqual(t, sealed, again, "a fresh nonce each time")

	got, err := keyring.Open(dek, sealed, aad)
	require.NoError(t, err)
	assert.Equal(t, plain, got)

	unwrapped, err := k.Unwrap(wrapped)
	require.NoError(t, err)
	assert.Equal(t, dek, unwrapped)
	assert.False(t, bytes.Contains(wrapped, dek), "the wrapped key does not hold the key")

	other, _, err := k.NewDataKey()
	require.NoError(t, err)
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() ([]byte, error){
		"another data key":   func() ([]byte, error) { return keyring.Open(other, sealed, aad) },
		"another aad":        func() ([]byte, error) { return keyring.Open(dek, sealed, []byte("event 2")) },
		"a flipped bit":      func() ([]byte, error) { return keyring.Open(dek, tampered, aad) },
		"too short":          func() ([]byte, error) { return keyring.Open(dek, sealed[:10], aad) },
		"a short data key":   func() ([]byte, error) { return keyring.Open(dek[:16], sealed, aad) },
		"a sealed for a key": func() ([]byte, error) { return k.Unwrap(sealed) },
	} {
		_, err := open()
		assert.Error(t, err, name)
		assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), name)
	}
}

func TestRewrap(t *testing.T) {
	old, _, err := keyring.Generate()
	require.NoError(t, err)
	next, _, err := keyring.Generate()
	require.NoError(t, err)
	assert.NotEqual(t, old.ID(), next.ID())
	dek, wrapped, err := old.NewDataKey()
	require.NoError(t, err)
	rewrapped, err := old.Rewrap(wrapped, next)
	require.NoError(t, err)
	got, err := next.Unwrap(rewrapped)
	require.NoError(t, err)
	assert.Equal(t, dek, got)
	_, err = old.Unwrap(rewrapped)
	assert.Error(t, err, "the old KEK no longer opens it")
	_, err = next.Unwrap(wrapped)
	assert.ErrorContains(t, err, next.ID(), "says which key failed")
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "amtrack.db.key")
	k, created, err := keyring.LoadOrCreate(path)
	require.NoError(t, err)
	assert.True(t, created)
	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	again, created, err := keyring.LoadOrCreate(path)
	require.NoError(t, err)
	assert.False(t, created)
	assert.Equal(t, k.ID(), again.ID(), "the same key comes back")
	_, wrapped, err := k.NewDataKey()
	require.NoError(t, err)
	_, err = again.Unwrap(wrapped)
	require.NoError(t, err)

	_, err = keyring.Create(path)
	assert.ErrorContains(t, err, "already exists", "a key file is never overwritten")

	require.NoError(t, os.Chmod(path, 0o644))
	_, err = keyring.Load(path)
	assert.ErrorContains(t, err, "can be read by others (mode 0644): run chmod 600")
	require.NoError(t, os.Chmod(path, 0o600))

	_, err = keyring.Load(filepath.Join(dir, "missing.key"))
	assert.Equal(t, domain.ENotFound, domain.ErrorCode(err))
}

func TestParseRefusesBadKeys(t *testing.T) {
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for name, text := range map[string]string{
		"not base64": "amtrack-kek-v1:not base64 at all!",
		"too short":  short,
		"empty":      "",
	} {
		_, err := keyring.Parse(text)
		require.Error(t, err, name)
		assert.Equal(t, domain.EInvalid, domain.ErrorCode(err), name)
		if text != "" {
			assert.False(t, strings.Contains(err.Error(), strings.TrimPrefix(text, "amtrack-kek-v1:")), "%s: the key is never echoed", name)
		}
	}
	_, kek, err := keyring.Generate()
	require.NoError(t, err)
	k, err := keyring.Parse("  " + base64.StdEncoding.EncodeToString(kek) + "\n")
	require.NoError(t, err)
	assert.Len(t, k.ID(), 16)
}

func TestDamagedKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	require.NoError(t, os.WriteFile(path, []byte("amtrack-kek-v1:AAAA\n"), 0o600))
	_, err := keyring.Load(path)
	assert.ErrorContains(t, err, "the key file "+path+" is damaged")
}

func BenchmarkSeal500(b *testing.B) {
	k, _, err := keyring.Generate()
	require.NoError(b, err)
	dek, _, err := k.NewDataKey()
	require.NoError(b, err)
	plain := bytes.Repeat([]byte("x"), 500)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keyring.Seal(dek, plain, []byte("aad")); err != nil {
			b.Fatal(err)
		}
	}
}

// TestOverhead: Seal adds exactly Overhead bytes.
func TestOverhead(t *testing.T) {
	dek := make([]byte, keyring.KeySize)
	for _, n := range []int{0, 1, 500} {
		sealed, err := keyring.Seal(dek, make([]byte, n), []byte("aad"))
		require.NoError(t, err)
		assert.Len(t, sealed, n+keyring.Overhead)
	}
}
