package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/amtrack/amtrack/api"
)

// TestOpenAPIDocument checks the document itself: it is valid OpenAPI 3,
// served as is, and every path it describes is served (the route tests
// check the converse: every response they get is in the document).
func TestOpenAPIDocument(t *testing.T) {
	doc, err := spec()
	require.NoError(t, err)
	assert.Equal(t, "3.0.3", doc.OpenAPI)

	p, events := seeded(t)
	id := pickIDs(t, events)
	c := newClient(t, api.NewServer(p, api.Options{}).Handler())
	res := c.get("/openapi.json")
	require.Equal(t, http.StatusOK, res.status)
	assert.Equal(t, api.OpenAPI, res.body)

	want := []string{
		"/healthz", "/metrics", "/openapi.json", "/readyz",
		"/v1/access_grants/{access_grant_id}", "/v1/access_grants/{access_grant_id}/events",
		"/v1/access_methods", "/v1/access_methods/{access_method_id}", "/v1/access_methods/{access_method_id}/events",
		"/v1/events", "/v1/events/{event_id}", "/webhooks/seam",
	}
	paths := doc.Paths.InMatchingOrder()
	slices.Sort(paths)
	assert.Equal(t, want, paths)

	param := regexp.MustCompile(`\{([a-z_]+)\}`)
	values := map[string]string{"access_grant_id": id.grant, "access_method_id": id.method, "event_id": id.event}
	for _, path := range paths {
		if path == "/webhooks/seam" {
			continue // the one write route: below, and its responses in webhook_test.go
		}
		target := param.ReplaceAllStringFunc(path, func(m string) string { return values[m[1:len(m)-1]] })
		res := c.get(target)
		assert.Equal(t, http.StatusOK, res.status, "%s: %s", target, res.body)
		item := doc.Paths.Value(path)
		require.NotNil(t, item.Get, path)
		assert.NotNil(t, item.Get.Responses.Status(http.StatusOK), "%s documents its 200", path)
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			assert.Nil(t, item.GetOperation(m), "%s is read-only", path)
		}
	}

	// The webhook receiver answers POST only and documents every answer of
	// SPEC §6.
	item := doc.Paths.Value("/webhooks/seam")
	require.NotNil(t, item.Post)
	assert.Nil(t, item.Get)
	assert.NotNil(t, item.Post.RequestBody)
	for _, status := range []int{200, 400, 401, 405, 408, 409, 413, 503} {
		assert.NotNil(t, item.Post.Responses.Status(status), "/webhooks/seam documents its %d", status)
	}
}
