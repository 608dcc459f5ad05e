package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/amtrack/amtrack/domain"
)

// item is one event read from an input, with its 1-based line, or the reason
// it could not be read (err).
type item struct {
	line int
	raw  []byte
	err  error
}

// readItems reads events from r: JSON Lines (one event per line), a JSON
// array of events, or one object (possibly spread over several lines). Each
// event, or each unreadable line, goes to emit with its line number. A line
// or element over domain.MaxEventSize is reported and skipped.
func readItems(r io.Reader, emit func(item) error) error {
	br := bufio.NewReaderSize(r, domain.MaxEventSize+4096)
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xEF\xBB\xBF")) {
		br.Discard(3)
	}
	first, err := peekNonSpace(br)
	if err == io.EOF {
		return nil
	}
	if err != nil {
		return err
	}
	if first == '[' {
		return readDocument(br, true, emit)
	}
	if first == '{' && spansLines(br) {
		return readDocument(br, false, emit)
	}
	return readLines(&lineReader{br: br}, 0, emit)
}

// spansLines reports whether the input starts with one JSON value written
// over several lines (a pretty-printed object) rather than JSON Lines. It
// only peeks: a first value that does not decode means JSON Lines, where a
// bad line is reported and the next lines still count. A first line that
// is a JSON value by itself means JSON Lines at once, so a stream that
// trickles in (stdin) is not held until a whole buffer has arrived.
func spansLines(br *bufio.Reader) bool {
	for {
		buf, err := br.Peek(br.Buffered())
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			if json.Valid(buf[:i]) {
				return false
			}
			break
		}
		if err != nil || len(buf) == br.Size() {
			break
		}
		if _, err := br.Peek(len(buf) + 1); err != nil { // wait for one more byte
			break
		}
	}
	buf, _ := br.Peek(br.Size())
	dec := json.NewDecoder(bytes.NewReader(buf))
	var v json.RawMessage
	if err := dec.Decode(&v); err != nil {
		return false
	}
	return bytes.ContainsRune(v, '\n')
}

func peekNonSpace(br *bufio.Reader) (byte, error) {
	for i := 1; ; i++ {
		b, err := br.Peek(i)
		if err != nil {
			return 0, err
		}
		c := b[i-1]
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c, nil
		}
	}
}

func readLines(lr *lineReader, lineNo int, emit func(item) error) error {
	for {
		line, tooLong, err := lr.next()
		if len(line) > 0 || tooLong {
			lineNo++
			if e := emitLine(emit, lineNo, line, tooLong); e != nil {
				return e
			}
		} else if err == nil {
			lineNo++
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func emitLine(emit func(item) error, lineNo int, line []byte, tooLong bool) error {
	if tooLong {
		return emit(item{line: lineNo, err: &domain.Error{Code: domain.ETooLarge, Message: "line is over the 1 MiB limit"}})
	}
	if len(bytes.TrimSpace(line)) == 0 {
		return nil
	}
	return emit(item{line: lineNo, raw: line})
}

// lineReader reads lines of at most domain.MaxEventSize bytes.
type lineReader struct {
	br *bufio.Reader
}

// next returns the next line without its newline (a fresh slice), whether it
// was over the limit (then line is nil and the rest was skipped), and io.EOF
// after the last line.
func (lr *lineReader) next() (line []byte, tooLong bool, err error) {
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > domain.MaxEventSize+2 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		line = bytes.TrimRight(line, "\r\n")
		if err == nil && len(line) == 0 && !tooLong {
			return []byte{}, false, nil
		}
		return line, tooLong, err
	}
}

// readDocument reads a JSON array of events or a sequence of JSON values,
// reporting each with the line it starts on. A syntax error ends the input.
func readDocument(r io.Reader, inArray bool, emit func(item) error) error {
	nl := &newlineIndex{r: r}
	dec := json.NewDecoder(nl)
	if inArray {
		if _, err := dec.Token(); err != nil {
			return emit(item{line: 1, err: syntaxError(err)})
		}
	}
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return emit(item{line: nl.line(dec.InputOffset()), err: syntaxError(err)})
		}
		start := dec.InputOffset() - int64(len(raw))
		if err := emit(item{line: nl.line(start), raw: raw}); err != nil {
			return err
		}
	}
	if inArray {
		if _, err := dec.Token(); err != nil {
			return emit(item{line: nl.line(dec.InputOffset()), err: syntaxError(err)})
		}
		if _, err := dec.Token(); err != io.EOF {
			return emit(item{line: nl.line(dec.InputOffset()), err: domain.Errorf(domain.EInvalid, "not valid JSON: unexpected data after the array")})
		}
	}
	return nil
}

func syntaxError(err error) error {
	return domain.Errorf(domain.EInvalid, "not valid JSON: %s", err.Error())
}

// newlineIndex remembers where newlines are, so offsets map to lines.
type newlineIndex struct {
	r   io.Reader
	n   int64
	nls []int64
}

func (x *newlineIndex) Read(p []byte) (int, error) {
	n, err := x.r.Read(p)
	for i := 0; i < n; i++ {
		if p[i] == '\n' {
			x.nls = append(x.nls, x.n+int64(i))
		}
	}
	x.n += int64(n)
	return n, err
}

// line returns the 1-based line of byte offset off.
func (x *newlineIndex) line(off int64) int {
	return sort.Search(len(x.nls), func(i int) bool { return x.nls[i] >= off }) + 1
}

// errorString formats a rejection for stderr.
func errorString(name string, line int, err error) string {
	return fmt.Sprintf("%s:%d: %s", name, line, domain.ErrorMessage(err))
}
