package api

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/amtrack/amtrack/domain"
)

// SignatureVerifier checks Seam's webhook signatures: Svix / Standard
// Webhooks, headers svix-* or webhook-*, HMAC-SHA256 over
// "id.timestamp.body", any of several space-separated "v1,<sig>" entries,
// compared in constant time, timestamps within ±5 minutes.
type SignatureVerifier struct {
	wh *standardwebhooks.Webhook
}

// NewSignatureVerifier returns a verifier for a "whsec_..." secret.
// Errors: invalid_input when the secret is not base64 after its prefix.
func NewSignatureVerifier(secret string) (*SignatureVerifier, error) {
	if strings.TrimSpace(secret) == "" {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET is empty: copy the whsec_... secret from Seam's webhook settings")
	}
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET is not a valid whsec_... secret (base64 after the prefix)")
	}
	return &SignatureVerifier{wh: wh}, nil
}

// webhookHeaders maps the unbranded header names to the svix-* ones.
var webhookHeaders = map[string]string{
	standardwebhooks.HeaderWebhookID:        "svix-id",
	standardwebhooks.HeaderWebhookTimestamp: "svix-timestamp",
	standardwebhooks.HeaderWebhookSignature: "svix-signature",
}

// MessageID returns the webhook message id of a request (webhook-id or svix-id).
func MessageID(h http.Header) string {
	if id := h.Get(standardwebhooks.HeaderWebhookID); id != "" {
		return id
	}
	return h.Get("svix-id")
}

// Verify checks body against the signature headers of h. Errors:
// unauthorized, with a message saying what is wrong.
func (v *SignatureVerifier) Verify(body []byte, h http.Header) error {
	return v.verify(body, h, true)
}

func (v *SignatureVerifier) verify(body []byte, h http.Header, tolerance bool) error {
	// Use whichever header family is complete; webhook-* wins when both are.
	headers := http.Header{}
	for std, svix := range webhookHeaders {
		if val := h.Get(std); val != "" {
			headers.Set(std, val)
		} else if val := h.Get(svix); val != "" {
			headers.Set(std, val)
		}
	}
	var err error
	if tolerance {
		err = v.wh.Verify(body, headers)
	} else {
		err = v.wh.VerifyIgnoringTimestamp(body, headers)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, standardwebhooks.ErrRequiredHeaders):
		return domain.Errorf(domain.EUnauthorized, "missing signature headers: want svix-id, svix-timestamp and svix-signature (or webhook-*)")
	case errors.Is(err, standardwebhooks.ErrInvalidHeaders):
		return domain.Errorf(domain.EUnauthorized, "the signature timestamp header must be Unix seconds")
	case errors.Is(err, standardwebhooks.ErrMessageTooOld), errors.Is(err, standardwebhooks.ErrMessageTooNew):
		return domain.Errorf(domain.EUnauthorized, "the signature timestamp is more than 5 minutes away from now (replayed or clock skew)")
	case errors.Is(err, standardwebhooks.ErrNoMatchingSignature):
		return domain.Errorf(domain.EUnauthorized, "no signature matches: check SEAM_WEBHOOK_SECRET")
	}
	return domain.Errorf(domain.EUnauthorized, "%s", fmt.Sprint(err))
}
