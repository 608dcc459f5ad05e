package api

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gorilla/mux"

	"github.com/amtrack/amtrack/domain"
)

// Page sizes (docs/api.md).
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// pathID parses the id in the path variable name. Errors: invalid_input
// naming the parameter.
func pathID(r *http.Request, name string) (domain.ID, error) {
	v := mux.Vars(r)[name]
	id, ok := domain.ParseID(v)
	if !ok {
		return id, errorf(domain.EInvalid, "%s must be an id (hex 8-4-4-4-12), got %q", name, v)
	}
	return id, nil
}

// query reads query parameters and keeps the first error: a handler reads
// all it needs, then checks err once. Unknown parameters are ignored; an
// empty value is the same as an absent parameter; a parameter given twice
// is an error.
type query struct {
	v   url.Values
	err error
}

// newQuery parses r's query. A malformed one (a bad %-escape, a ;
// separator), which r.URL.Query would silently drop, is the query's error,
// naming the parameter.
func newQuery(r *http.Request) *query {
	v, err := parseQuery(r.URL.RawQuery)
	return &query{v: v, err: err}
}

// parseQuery parses a URL query as url.ParseQuery does, but stops at the
// first malformed parameter with an invalid_input error that names it.
func parseQuery(raw string) (url.Values, error) {
	v := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		if strings.Contains(pair, ";") {
			return v, errorf(domain.EInvalid, "query parameters are separated by &, not ;, got %q: write a ; in a value as %%3B", pair)
		}
		k, val, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(k)
		if err != nil {
			return v, errorf(domain.EInvalid, "the query parameter name %q is not valid URL encoding: write a %% as %%25", k)
		}
		value, err := url.QueryUnescape(val)
		if err != nil {
			return v, errorf(domain.EInvalid, "%s is not valid URL encoding, got %q: write a %% as %%25", name, val)
		}
		v[name] = append(v[name], value)
	}
	return v, nil
}

func (q *query) fail(format string, args ...any) {
	if q.err == nil {
		q.err = errorf(domain.EInvalid, format, args...)
	}
}

// str returns the parameter's value, "" when absent.
func (q *query) str(name string) string {
	vs := q.v[name]
	switch {
	case len(vs) == 0:
		return ""
	case len(vs) > 1:
		q.fail("%s must be given at most once, got it %d times", name, len(vs))
		return ""
	}
	return vs[0]
}

// id returns the parameter as an id, nil when absent.
func (q *query) id(name string) *domain.ID {
	v := q.str(name)
	if v == "" {
		return nil
	}
	id, ok := domain.ParseID(v)
	if !ok {
		q.fail("%s must be an id (hex 8-4-4-4-12), got %q", name, v)
		return nil
	}
	return &id
}

// time returns the parameter as Unix nanoseconds, nil when absent.
func (q *query) time(name string) *int64 {
	v := q.str(name)
	if v == "" {
		return nil
	}
	t, ok := domain.ParseTime(v)
	if !ok || !domain.InRange(t) {
		hint := ""
		if strings.Contains(v, " ") {
			hint = " (a + in a URL query reads as a space: write it %2B)"
		}
		q.fail("%s must be an RFC 3339 time such as 2026-03-01T12:00:00Z, got %q%s", name, v, hint)
		return nil
	}
	ns := t.UnixNano()
	return &ns
}

// boolean returns the parameter as true or false, nil when absent.
func (q *query) boolean(name string) *bool {
	switch v := q.str(name); v {
	case "":
		return nil
	case "true":
		b := true
		return &b
	case "false":
		b := false
		return &b
	default:
		q.fail("%s must be true or false, got %q", name, v)
		return nil
	}
}

// oneOf returns the parameter when it is one of allowed, "" when absent.
func (q *query) oneOf(name string, allowed ...string) string {
	v := q.str(name)
	if v != "" && !slices.Contains(allowed, v) {
		q.fail("%s must be one of %s, got %q", name, strings.Join(allowed, ", "), v)
		return ""
	}
	return v
}

// limit returns the page size: DefaultLimit when absent, 1 to MaxLimit.
func (q *query) limit() int {
	v := q.str("limit")
	if v == "" {
		return DefaultLimit
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > MaxLimit {
		q.fail("limit must be an integer from 1 to %d, got %q", MaxLimit, v)
		return DefaultLimit
	}
	return n
}

// seq returns a non-negative integer parameter, 0 when absent.
func (q *query) seq(name string) int64 {
	v := q.str(name)
	if v == "" {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		q.fail("%s must be a non-negative integer, got %q", name, v)
		return 0
	}
	return n
}

// Cursors are opaque to clients: base64url (no padding) of a version byte,
// a kind byte and the position of the last item of the previous page. A
// position is a key (an id, a fold-order key, a seq), never an offset, so a
// cursor stays valid while events are appended.
const cursorVersion = 1

// Cursor kinds: one per kind of list, so that a cursor of one list is
// refused by another.
const (
	cursorMethodID byte = 'm' // access-method lists: the last access_method_id
	cursorFoldKey  byte = 'k' // method and grant events: the last (occurred_at, created_at, event_id)
	cursorSeq      byte = 's' // the log: the last seq
)

func encodeCursor(kind byte, pos []byte) *string {
	b := append([]byte{cursorVersion, kind}, pos...)
	s := base64.RawURLEncoding.EncodeToString(b)
	return &s
}

// cursor decodes page_cursor of the given kind and size; nil when absent.
func (q *query) cursor(kind byte, size int) []byte {
	v := q.str("page_cursor")
	if v == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(v)
	if err != nil || len(b) != 2+size || b[0] != cursorVersion || b[1] != kind {
		q.fail("page_cursor is not a cursor of this list: pass next_page_cursor from the previous page unchanged, got %q", v)
		return nil
	}
	return b[2:]
}

func idCursor(id domain.ID) *string { return encodeCursor(cursorMethodID, id[:]) }

func (q *query) idCursor() *domain.ID {
	b := q.cursor(cursorMethodID, 16)
	if b == nil {
		return nil
	}
	id, _ := domain.IDFromBytes(b)
	return &id
}

func keyCursor(k domain.Key) *string {
	b := make([]byte, 32)
	binary.BigEndian.PutUint64(b[0:], uint64(k.OccurredAt))
	binary.BigEndian.PutUint64(b[8:], uint64(k.CreatedAt))
	copy(b[16:], k.EventID[:])
	return encodeCursor(cursorFoldKey, b)
}

func (q *query) keyCursor() *domain.Key {
	b := q.cursor(cursorFoldKey, 32)
	if b == nil {
		return nil
	}
	k := domain.Key{OccurredAt: int64(binary.BigEndian.Uint64(b[0:])), CreatedAt: int64(binary.BigEndian.Uint64(b[8:]))}
	copy(k.EventID[:], b[16:])
	return &k
}

func seqCursor(seq int64) *string {
	return encodeCursor(cursorSeq, binary.BigEndian.AppendUint64(nil, uint64(seq)))
}

func (q *query) seqCursor() *int64 {
	b := q.cursor(cursorSeq, 8)
	if b == nil {
		return nil
	}
	seq := int64(binary.BigEndian.Uint64(b))
	if seq < 0 {
		q.fail("page_cursor is not a cursor of this list: pass next_page_cursor from the previous page unchanged")
		return nil
	}
	return &seq
}

// pagination is the "pagination" object of every list.
type pagination struct {
	HasNextPage    bool    `json:"has_next_page"`
	NextPageCursor *string `json:"next_page_cursor"`
}

// nextPage is the pagination of a page that has a next page after cursor.
func nextPage(cursor *string) pagination {
	return pagination{HasNextPage: true, NextPageCursor: cursor}
}

// MaxPageBytes is the budget of a list page's encoded items: a page stops
// before the item that would take it past the budget (its first item always
// fits) and answers has_next_page, so one response holds about 1 MiB in
// memory however large its events (up to 1 MiB each) and its limit. Without
// it, 300 connections that never read a page of 1000 events took serve from
// 160 MB to 1.6 GB.
const MaxPageBytes = 1 << 20

// Indentation of a list's items in its body, as writeJSON indents: the body
// is an object whose list member holds the items.
const (
	itemIndent = "    "
	itemSep    = ",\n" + itemIndent
)

// page encodes a list page item by item within a byte budget, into the
// exact bytes writeJSON writes for {"<list>": [items], "pagination": ...}.
type page struct {
	items  bytes.Buffer
	n      int // items added
	budget int
}

// add encodes v and adds it unless the page has an item and v would take
// it past the budget; it reports whether v was added.
func (p *page) add(v any) (bool, error) {
	b, err := json.MarshalIndent(v, itemIndent, "  ")
	if err != nil {
		return false, err
	}
	if p.n > 0 && p.items.Len()+len(itemSep)+len(b) > p.budget {
		return false, nil
	}
	if p.n > 0 {
		p.items.WriteString(itemSep)
	}
	p.items.Write(b)
	p.n++
	return true, nil
}

// body returns the whole body of the page, the list named list.
func (p *page) body(list string, pg pagination) ([]byte, error) {
	pb, err := json.MarshalIndent(pg, "  ", "  ")
	if err != nil {
		return nil, err
	}
	b := make([]byte, 0, p.items.Len()+len(pb)+len(list)+64)
	b = append(b, "{\n  \""...)
	b = append(b, list...)
	b = append(b, "\": ["...)
	if p.n > 0 {
		b = append(b, "\n"+itemIndent...)
		b = append(b, p.items.Bytes()...)
		b = append(b, "\n  "...)
	}
	b = append(b, "],\n  \"pagination\": "...)
	b = append(b, pb...)
	return append(b, "\n}\n"...), nil
}

// writePage encodes up to n items (item(i) returns the i-th) within the
// server's page budget and writes the page; next returns the pagination
// given how many items fit.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, list string, n int, item func(i int) any,
	next func(fit int) pagination) error {
	p := &page{budget: s.pageBytes}
	for i := range n {
		ok, err := p.add(item(i))
		if err != nil {
			return fmt.Errorf("encode %s: %w", list, err)
		}
		if !ok {
			break
		}
	}
	b, err := p.body(list, next(p.n))
	if err != nil {
		return fmt.Errorf("encode %s: %w", list, err)
	}
	s.writeBody(w, http.StatusOK, b)
	return nil
}
