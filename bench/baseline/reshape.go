package main

import (
	"bytes"
	"compress/flate"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"strings"
)

// The events table's columns that a packed row keeps as columns: the
// indexes' keys (event_id; method_stream, occurred_at, created_at), the
// payload and the sealed payload. Every other column goes into fields.
var packedKeep = []string{"seq", "event_id", "method_stream", "occurred_at", "created_at", "payload", "sealed"}

// packedEvents is the events table of a packed row. Its indexes are the
// source's, whose columns it keeps.
const packedEvents = `CREATE TABLE events (
    seq           INTEGER PRIMARY KEY,
    event_id      BLOB    NOT NULL,
    method_stream INTEGER,
    occurred_at   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,
    fields        BLOB    NOT NULL,
    payload       BLOB    NOT NULL,
    sealed        BLOB
)`

// dictBytes is the most of the source's first payloads that the deflate
// dictionary holds: a larger one compresses a little better, but deflate
// hashes all of it again for every payload.
const dictBytes = 4096

// reshape rewrites the events table's rows as another design of the file
// would store them, on the reader's goroutine (as amtrack's parser runs
// beside its writer): packed, the columns that no index needs packed into
// one blob (fewer values to bind, one record header instead of fifteen);
// deflate, the payload compressed with a preset dictionary.
type reshape struct {
	cols       []string // the events table's columns written, in order
	from       []int    // for each of cols, the source column's index (-1: fields)
	packed     []int    // the source columns that fields holds, in order
	payloadAt  int      // the payload's index in cols (-1: left as it is)
	dict       []byte
	deflater   *flate.Writer
	buf        bytes.Buffer
	rawBytes   int64 // payload bytes read
	storeBytes int64 // payload bytes written
	fieldBytes int64 // bytes of fields written
}

// newReshape makes the reshape of the source's events table and, when
// packed, changes schema's events table to packedEvents.
func newReshape(ctx context.Context, src *sql.DB, schema []schemaItem, tables []table, packed, deflate bool) (*reshape, error) {
	var events *table
	for i := range tables {
		if tables[i].name == "events" {
			events = &tables[i]
		}
	}
	if events == nil {
		return nil, fmt.Errorf("-events packed and -payload deflate need amtrack's events table; the source has none")
	}
	at := map[string]int{}
	for i, c := range events.cols {
		at[c] = i
	}
	for _, c := range packedKeep {
		if _, ok := at[c]; !ok {
			return nil, fmt.Errorf("the source's events table has no column %s: is it a database amtrack made?", c)
		}
	}
	r := &reshape{payloadAt: -1}
	if packed {
		for _, c := range packedKeep[:5] {
			r.cols, r.from = append(r.cols, c), append(r.from, at[c])
		}
		r.cols, r.from = append(r.cols, "fields"), append(r.from, -1)
		for _, c := range packedKeep[5:] {
			r.cols, r.from = append(r.cols, c), append(r.from, at[c])
		}
		keep := map[string]bool{}
		for _, c := range packedKeep {
			keep[c] = true
		}
		for i, c := range events.cols {
			if !keep[c] {
				r.packed = append(r.packed, i)
			}
		}
		for i := range schema {
			if schema[i].kind == "table" && schema[i].name == "events" {
				schema[i].sql = packedEvents
			}
		}
	} else {
		r.cols = events.cols
		for i := range events.cols {
			r.from = append(r.from, i)
		}
	}
	if deflate {
		for i, c := range r.cols {
			if c == "payload" {
				r.payloadAt = i
			}
		}
		if err := r.readDict(ctx, src); err != nil {
			return nil, err
		}
		w, err := flate.NewWriterDict(&r.buf, flate.DefaultCompression, r.dict)
		if err != nil {
			return nil, err
		}
		r.deflater = w
	}
	return r, nil
}

// readDict takes the dictionary from the source's first payloads, in seq
// order, cut at dictBytes.
func (r *reshape) readDict(ctx context.Context, src *sql.DB) error {
	rows, err := src.QueryContext(ctx, `SELECT payload FROM events ORDER BY seq LIMIT 64`)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() && len(r.dict) < dictBytes {
		var p []byte
		if err := rows.Scan(&p); err != nil {
			return err
		}
		r.dict = append(r.dict, p...)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	r.dict = r.dict[:min(len(r.dict), dictBytes)]
	return nil
}

// rewrites reports whether r (nil: none) rewrites the rows of table.
func (r *reshape) rewrites(table string) bool { return r != nil && table == "events" }

// row rewrites one source row of the events table.
func (r *reshape) row(src []any) ([]any, error) {
	out := make([]any, len(r.cols))
	for i, from := range r.from {
		if from >= 0 {
			out[i] = src[from]
			continue
		}
		var b []byte
		for _, j := range r.packed {
			var err error
			if b, err = appendField(b, src[j]); err != nil {
				return nil, fmt.Errorf("events column %d: %w", j, err)
			}
		}
		r.fieldBytes += int64(len(b))
		out[i] = b
	}
	if r.payloadAt >= 0 {
		p, ok := out[r.payloadAt].([]byte)
		if !ok {
			return nil, fmt.Errorf("a payload of type %T, not a blob", out[r.payloadAt])
		}
		r.buf.Reset()
		r.deflater.Reset(&r.buf)
		if _, err := r.deflater.Write(p); err != nil {
			return nil, err
		}
		if err := r.deflater.Close(); err != nil {
			return nil, err
		}
		out[r.payloadAt] = bytes.Clone(r.buf.Bytes())
		r.rawBytes += int64(len(p))
		r.storeBytes += int64(r.buf.Len())
	}
	return out, nil
}

// The tags of a packed field.
const (
	fieldNull = iota
	fieldInt
	fieldBlob
	fieldText
)

// appendField appends one value to a packed row: a tag, then a varint
// (an integer) or a length and the bytes (a blob, a text).
func appendField(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(b, fieldNull), nil
	case int64:
		return binary.AppendVarint(append(b, fieldInt), v), nil
	case []byte:
		return append(binary.AppendUvarint(append(b, fieldBlob), uint64(len(v))), v...), nil
	case string:
		return append(binary.AppendUvarint(append(b, fieldText), uint64(len(v))), v...), nil
	}
	return nil, fmt.Errorf("a value of type %T cannot be packed", v)
}

// summary says what the reshape wrote, for stderr.
func (r *reshape) summary() string {
	var parts []string
	if r.packed != nil {
		parts = append(parts, fmt.Sprintf("packed %d columns into fields, %d bytes", len(r.packed), r.fieldBytes))
	}
	if r.deflater != nil {
		ratio := 0.0
		if r.storeBytes > 0 {
			ratio = float64(r.rawBytes) / float64(r.storeBytes)
		}
		parts = append(parts, fmt.Sprintf("payloads %d bytes deflated to %d (%.2fx, a dictionary of %d bytes)", r.rawBytes, r.storeBytes, ratio, len(r.dict)))
	}
	return strings.Join(parts, "; ")
}
