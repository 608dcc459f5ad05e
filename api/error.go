package api

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/amtrack/amtrack/domain"
)

// codeMethodNotAllowed is the error type of a 405. It is the API's own:
// the domain never refuses a method.
const codeMethodNotAllowed = "method_not_allowed"

// statusOf is the one table from error code to HTTP status.
var statusOf = map[string]int{
	domain.EInvalid:      http.StatusBadRequest,
	domain.ENotFound:     http.StatusNotFound,
	domain.EConflict:     http.StatusConflict,
	domain.EUnauthorized: http.StatusUnauthorized,
	codeMethodNotAllowed: http.StatusMethodNotAllowed,
	domain.ETooLarge:     http.StatusRequestEntityTooLarge,
	domain.EInternal:     http.StatusInternalServerError,
	codeUnavailable:      http.StatusServiceUnavailable,
	codeRequestTimeout:   http.StatusRequestTimeout,
}

// statusClientClosedRequest is recorded (never sent) when the client went
// away before the answer was ready.
const statusClientClosedRequest = 499

// errorBody is the JSON of every error response.
type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

// writeError is the one function that writes errors: the status from
// statusOf, the body {"error": {"type", "message"}}. Internal details are
// logged, never sent: an internal error's message is "internal error".
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	ctx := r.Context()
	info := infoOf(ctx)
	// The client went away: nobody reads an answer. A query canceled by it
	// may also end as a broken connection (pgx closes the connection it
	// was using), which database/sql reports as driver.ErrBadConn.
	if ctxErr := ctx.Err(); ctxErr != nil && (errors.Is(err, ctxErr) || errors.Is(err, driver.ErrBadConn)) {
		info.status = statusClientClosedRequest
		s.log.LogAttrs(ctx, slog.LevelDebug, "client went away", slog.String("path", r.URL.Path), slog.Any("err", err))
		return
	}
	code, msg := domain.ErrorCode(err), domain.ErrorMessage(err)
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		code, msg = domain.ETooLarge, "the request body is over the limit of 1 MiB"
	}
	status, ok := statusOf[code]
	if !ok {
		code, status = domain.EInternal, http.StatusInternalServerError
	}
	if code == domain.EInternal {
		msg = "internal error"
		s.log.LogAttrs(ctx, slog.LevelError, "request failed", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.Any("err", err))
	} else {
		s.log.LogAttrs(ctx, slog.LevelWarn, "request refused", slog.String("method", r.Method),
			slog.String("path", r.URL.Path), slog.Int("status", status), slog.String("type", code), slog.String("message", msg))
	}
	if status == http.StatusServiceUnavailable {
		// Seam, load balancers and clients retry a 503; say when.
		w.Header().Set("Retry-After", "30")
	}
	if code == domain.EUnauthorized && strings.HasPrefix(r.URL.Path, "/v1/") {
		// Only the API takes a bearer token; a webhook's 401 is about its signature.
		w.Header().Set("WWW-Authenticate", `Bearer realm="amtrack"`)
	}
	s.writeJSON(w, r, status, errorBody{Error: errorDetail{Type: code, Message: msg}})
}

// internalErrorBody is the answer when even an error could not be encoded.
var internalErrorBody = []byte(`{
  "error": {
    "type": "internal",
    "message": "internal error"
  }
}
`)

// writeJSON writes v as the response body: indented as the CLI prints it
// (docs/fold.md: the API and the CLI print the same JSON bodies).
func (s *Server) writeJSON(w http.ResponseWriter, r *http.Request, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		if status >= 500 { // encoding the error itself failed: no recursion
			s.writeBody(w, http.StatusInternalServerError, internalErrorBody)
			return
		}
		s.writeError(w, r, err)
		return
	}
	s.writeBody(w, status, append(b, '\n'))
}

// writeBody writes b, a JSON body, with the headers of every answer.
func (s *Server) writeBody(w http.ResponseWriter, status int, b []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store") // answers may hold codes (--reveal-codes) and change with every event
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// errorf is a shorthand for the errors handlers return.
func errorf(code, format string, args ...any) error { return domain.Errorf(code, format, args...) }

// infoKey is the context key of the request's *requestInfo.
type infoKey struct{}

// requestInfo is what the handlers tell the logging and metrics middleware.
type requestInfo struct {
	route  string // the route template, "unmatched" when none matched
	status int    // set when the status was not written (client gone)
}

func infoOf(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}
