package api

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/ingest"
	"github.com/amtrack/amtrack/store"
)

// codeUnavailable is the error type of a 503: the webhook receiver is not
// configured, or the database cannot take a write now.
const codeUnavailable = domain.EUnavailable

// codeRequestTimeout is the error type of a 408: the request body did not
// arrive within the server's read timeout.
const codeRequestTimeout = "request_timeout"

// WebhookOptions configure the webhook receiver.
type WebhookOptions struct {
	// Secret is Seam's "whsec_..." signing secret ($SEAM_WEBHOOK_SECRET).
	// Without it the receiver answers 503, unless AllowUnsigned.
	Secret string
	// AllowUnsigned accepts webhooks without checking signatures
	// (--insecure-unsigned-webhooks): for local tests only.
	AllowUnsigned bool
}

// webhookResponse is the body of a 200.
type webhookResponse struct {
	OK        bool      `json:"ok"`
	EventID   domain.ID `json:"event_id"`
	Seq       int64     `json:"seq"`
	Duplicate bool      `json:"duplicate"`
}

// webhookPath is the webhook receiver's route.
const webhookPath = "/webhooks/seam"

// EnableWebhooks registers POST /webhooks/seam (docs/webhooks.md), appending
// through app, which answers after the commit (serve's is a group-commit
// *store.Writer). Errors: invalid_input for a malformed secret.
func (s *Server) EnableWebhooks(app ingest.Appender, opts WebhookOptions) error {
	var verifier *SignatureVerifier
	if opts.Secret != "" {
		var err error
		if verifier, err = NewSignatureVerifier(opts.Secret); err != nil {
			return err
		}
	}
	wh := &webhookReceiver{s: s, app: app, verifier: verifier, unsigned: opts.AllowUnsigned}
	s.Handle(webhookPath, wh, http.MethodPost)
	s.webhooks = true
	return nil
}

type webhookReceiver struct {
	s        *Server
	app      ingest.Appender
	verifier *SignatureVerifier // nil: no secret
	unsigned bool
}

// ServeHTTP answers one webhook: 200 only once the event is committed;
// nothing is stored for any other answer.
func (wh *webhookReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := wh.receive(w, r); err != nil {
		wh.s.writeError(w, r, err)
	}
}

func (wh *webhookReceiver) receive(w http.ResponseWriter, r *http.Request) error {
	if wh.verifier == nil && !wh.unsigned {
		return errorf(codeUnavailable, "the webhook receiver has no secret: set SEAM_WEBHOOK_SECRET to the whsec_... "+
			"signing secret of your Seam webhook endpoint and restart amtrack serve")
	}
	received := time.Now()
	// The server limits every body to MaxBodyBytes: a longer one is a 413.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return bodyError(err)
	}
	if wh.verifier != nil {
		if err := wh.verifier.Verify(body, r.Header); err != nil {
			return err
		}
	}
	tally := ingest.Tally{Counter: wh.s.metrics}
	p, err := ingest.Parse(body, store.SourceWebhook, MessageID(r.Header), received)
	if err != nil {
		tally.Reject(err)
		return err
	}
	out, err := tally.Append(r.Context(), wh.app, []store.Pending{p})
	if err != nil {
		return err
	}
	if out[0].Err != nil {
		return out[0].Err
	}
	wh.s.writeJSON(w, r, http.StatusOK, webhookResponse{OK: true, EventID: p.Event.ID, Seq: out[0].Seq, Duplicate: out[0].Duplicate})
	return nil
}

// bodyError says why a request body could not be read. It is the client's
// doing (a body shorter than its Content-Length, broken chunked encoding,
// a body too slow for the read timeout), answered before any signature is
// checked: a 400 or 408 logged as a refusal, never an internal error that
// anyone could make the server log. A body over the limit stays a 413.
func bodyError(err error) error {
	var tooLarge *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooLarge):
		return err
	case errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return errorf(codeRequestTimeout, "the request body did not arrive in time: send the whole body at once")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(domain.EInvalid, "the request body ended before it was complete: send the whole body")
	}
	return errorf(domain.EInvalid, "the request body could not be read (broken chunked encoding or connection): send the whole body again")
}
