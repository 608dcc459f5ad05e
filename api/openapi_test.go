package api_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

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
		"/v1/events", "/v1/events/{event_id}", "/v1/log/head", "/webhooks/seam",
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
	// docs/webhooks.md.
	item := doc.Paths.Value("/webhooks/seam")
	require.NotNil(t, item.Post)
	assert.Nil(t, item.Get)
	assert.NotNil(t, item.Post.RequestBody)
	for _, status := range []int{200, 400, 401, 405, 408, 409, 413, 503} {
		assert.NotNil(t, item.Post.Responses.Status(status), "/webhooks/seam documents its %d", status)
	}
}

// TestOpenRoutesRefuseLargeBodies checks the open read routes' 4xx: a
// request whose body is over 1 MiB is a 413 before routing, and the
// document says so (the client fails on an undocumented status).
func TestOpenRoutesRefuseLargeBodies(t *testing.T) {
	p, _ := seeded(t)
	c := newClient(t, api.NewServer(p, api.Options{Token: "s3cret-token"}).Handler())
	for _, target := range []string{"/healthz", "/readyz", "/metrics", "/openapi.json"} {
		t.Run(target, func(t *testing.T) {
			res := c.on(t).doWithLength(http.MethodGet, target, 2_000_000)
			require.Equal(t, http.StatusRequestEntityTooLarge, res.status, "body: %s", res.body)
			typ, msg := res.errorType(t)
			assert.Equal(t, "payload_too_large", typ)
			assert.Contains(t, msg, "1 MiB")
		})
	}
}

// TestOpenAPISecurity checks what the document says of auth against what
// the server does: every /v1 operation takes the bearer token (optional:
// without AMTRACK_API_TOKEN the server needs none), every other operation
// is open.
func TestOpenAPISecurity(t *testing.T) {
	doc, err := spec()
	require.NoError(t, err)
	scheme := doc.Components.SecuritySchemes["bearerAuth"]
	require.NotNil(t, scheme, "components.securitySchemes.bearerAuth")
	assert.Equal(t, "http", scheme.Value.Type)
	assert.Equal(t, "bearer", scheme.Value.Scheme)

	for _, path := range doc.Paths.InMatchingOrder() {
		for method, op := range doc.Paths.Value(path).Operations() {
			security := doc.Security
			if op.Security != nil {
				security = *op.Security
			}
			if strings.HasPrefix(path, "/v1/") {
				assert.Equal(t, openapi3.SecurityRequirements{{}, {"bearerAuth": []string{}}}, security,
					"%s %s takes the bearer token, or none when the server has no token", method, path)
				continue
			}
			assert.Empty(t, security, "%s %s is open", method, path)
			assert.NotNil(t, op.Security, "%s %s says it is open (security: [])", method, path)
		}
	}
}
