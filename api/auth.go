package api

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/amtrack/amtrack/domain"
)

// checkToken checks the bearer token of a /v1 request when the server has
// one (docs/api.md). The comparison is constant-time and on SHA-256 digests, so
// neither the token's bytes nor its length leak through timing. Errors:
// unauthorized.
func (s *Server) checkToken(r *http.Request) error {
	if s.opts.Token == "" {
		return nil
	}
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return domain.Errorf(domain.EUnauthorized, "this API needs the header \"Authorization: Bearer TOKEN\" with the server's AMTRACK_API_TOKEN as TOKEN")
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(token)))
	if subtle.ConstantTimeCompare(got[:], s.tokenHash[:]) != 1 {
		return domain.Errorf(domain.EUnauthorized, "the bearer token is not valid; use the server's AMTRACK_API_TOKEN")
	}
	return nil
}
