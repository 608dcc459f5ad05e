package testutil

import (
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

// Get sends a GET to url, with token as a bearer token unless it is "", and
// returns the response's status code and body. A failed request or read
// fails tb.
func Get(tb testing.TB, url, token string) (int, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(tb, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(tb, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(tb, err)
	return res.StatusCode, string(b)
}
