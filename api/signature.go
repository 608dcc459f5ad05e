package api

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/amtrack/amtrack/domain"
)

// SignatureVerifier checks Seam's webhook signatures: Svix / Standard
// Webhooks, headers svix-* or webhook-* (see signatureHeaders),
// HMAC-SHA256 over "id.timestamp.body", any of several space-separated
// "v1,<sig>" entries, compared in constant time, timestamps within ±5
// minutes.
type SignatureVerifier struct {
	wh *standardwebhooks.Webhook
}

// minSecretBytes is the shortest signing key accepted, decoded. Svix (and
// so Seam) makes 24-byte keys; a shorter one is a truncated paste or a
// made-up value, and an empty one would let anyone sign.
const minSecretBytes = 16

// NewSignatureVerifier returns a verifier for a "whsec_..." secret: the
// base64 of a key of at least 16 bytes, after an optional whsec_ prefix.
// Errors: invalid_input when the secret is empty or blank, not base64, or
// its key is shorter than 16 bytes.
func NewSignatureVerifier(secret string) (*SignatureVerifier, error) {
	if strings.TrimSpace(strings.TrimPrefix(secret, secretPrefix)) == "" {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET is empty: copy the whsec_... secret from Seam's webhook settings")
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, secretPrefix))
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET is not a valid whsec_... secret (base64 after the prefix): "+
			"copy it again from Seam's webhook settings")
	}
	if len(key) < minSecretBytes {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET holds a %d-byte key, under the minimum of %d bytes (Seam's are 24): "+
			"copy the whole whsec_... secret from Seam's webhook settings", len(key), minSecretBytes)
	}
	wh, err := standardwebhooks.NewWebhookRaw(key)
	if err != nil {
		return nil, domain.Errorf(domain.EInvalid, "SEAM_WEBHOOK_SECRET is not a valid whsec_... secret: %s", err.Error())
	}
	return &SignatureVerifier{wh: wh}, nil
}

// secretPrefix starts every Svix signing secret.
const secretPrefix = "whsec_"

// The two families of signature headers, in the order they are tried.
var (
	svixHeaders    = [3]string{"svix-id", "svix-timestamp", "svix-signature"}
	webhookHeaders = [3]string{standardwebhooks.HeaderWebhookID, standardwebhooks.HeaderWebhookTimestamp, standardwebhooks.HeaderWebhookSignature}
)

// signatureHeaders returns the id, timestamp and signature of h as one
// set, as Svix's and Seam's own SDKs take them: the svix-* set when all
// three are present, else the webhook-* set, whole. Headers of the two
// families are never mixed. ok is false when neither set is complete.
func signatureHeaders(h http.Header) (set [3]string, ok bool) {
	for _, names := range [][3]string{svixHeaders, webhookHeaders} {
		for i, name := range names {
			set[i] = h.Get(name)
		}
		if set[0] != "" && set[1] != "" && set[2] != "" {
			return set, true
		}
	}
	return [3]string{}, false
}

// MessageID returns the webhook message id of a request: the id of the
// header set signatures are checked with (svix-id when the svix-* set is
// complete, else webhook-id), or when neither set is complete svix-id,
// else webhook-id.
func MessageID(h http.Header) string {
	if set, ok := signatureHeaders(h); ok {
		return set[0]
	}
	if id := h.Get(svixHeaders[0]); id != "" {
		return id
	}
	return h.Get(webhookHeaders[0])
}

// Verify checks body against the signature headers of h. Errors:
// unauthorized, with a message saying what is wrong.
func (v *SignatureVerifier) Verify(body []byte, h http.Header) error {
	return v.verify(body, h, true)
}

func (v *SignatureVerifier) verify(body []byte, h http.Header, tolerance bool) error {
	// One whole set, under the names the library reads.
	headers := http.Header{}
	if set, ok := signatureHeaders(h); ok {
		for i, name := range webhookHeaders {
			headers.Set(name, set[i])
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
