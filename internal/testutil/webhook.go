package testutil

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"
	"github.com/stretchr/testify/require"
)

// Signer signs webhook bodies with one secret, as Seam (Svix) does.
type Signer struct{ wh *standardwebhooks.Webhook }

// NewSigner returns a Signer for secret ("whsec_" and base64); a secret that
// is not one fails tb.
func NewSigner(tb testing.TB, secret string) *Signer {
	tb.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	require.NoError(tb, err)
	return &Signer{wh: wh}
}

// Sign returns the signature headers of body sent as message msgID at at,
// named with family ("svix-" or "webhook-"): family+"id",
// family+"timestamp" and family+"signature". It takes no testing.TB, so
// any goroutine may call it.
func (s *Signer) Sign(family, msgID string, at time.Time, body []byte) (http.Header, error) {
	sig, err := s.wh.Sign(msgID, at, body)
	if err != nil {
		return nil, err
	}
	h := http.Header{}
	h.Set(family+"id", msgID)
	h.Set(family+"timestamp", strconv.FormatInt(at.Unix(), 10))
	h.Set(family+"signature", sig)
	return h, nil
}

// Sign is NewSigner(tb, secret).Sign(family, msgID, at, body), failing tb
// on an error.
func Sign(tb testing.TB, secret, family, msgID string, at time.Time, body []byte) http.Header {
	tb.Helper()
	h, err := NewSigner(tb, secret).Sign(family, msgID, at, body)
	require.NoError(tb, err)
	return h
}
