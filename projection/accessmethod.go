package projection

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/amtrack/amtrack/domain"
	"github.com/amtrack/amtrack/store"
)

// AccessMethod returns the current state of an access method.
// Errors: not_found.
func (p *Projection) AccessMethod(ctx context.Context, id domain.ID) (*domain.AccessMethod, error) {
	m, _, err := p.AccessMethodVersion(ctx, id, nil)
	return m, err
}

// AccessMethodVersion returns the current state of an access method and
// its version: the bytes of its row (the state and its last fold key),
// which change whenever the state does, a refold included. When version
// equals known, the state is not decoded and m is nil: the caller's copy
// of that version is current. Errors: not_found.
func (p *Projection) AccessMethodVersion(ctx context.Context, id domain.ID, known []byte) (m *domain.AccessMethod, version []byte, err error) {
	var state, eventID []byte
	var occ, created int64
	err = p.db.ReadRow(ctx, []any{&state, &occ, &created, &eventID}, `SELECT state, last_occurred_at, last_created_at, last_event_id
		FROM access_methods WHERE access_method_id = ?`, id[:])
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, domain.Errorf(domain.ENotFound, "access method %s not found", id)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read access method %s: %w", id, err)
	}
	version = binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(append(eventID, state...), uint64(occ)), uint64(created))
	if known != nil && bytes.Equal(version, known) {
		return nil, version, nil
	}
	m, err = decodeMethod(state, occ, created, eventID)
	return m, version, err
}

// AccessMethodAsOf returns the state of an access method folded from its
// events with occurred_at <= asOf (Unix nanoseconds). Errors: not_found
// (no such method, or none of its events had occurred by then).
func (p *Projection) AccessMethodAsOf(ctx context.Context, id domain.ID, asOf int64) (*domain.AccessMethod, error) {
	log := p.db.Log()
	stream, err := log.Stream(ctx, store.KindMethod, id)
	if err != nil {
		return nil, err
	}
	events, err := log.FoldEvents(ctx, stream, &asOf)
	if err != nil {
		return nil, err
	}
	s := domain.FoldAccessMethod(events)
	if s == nil {
		return nil, domain.Errorf(domain.ENotFound, "access method %s has no events at or before %s", id, domain.FormatNanos(asOf))
	}
	return s, nil
}

// Reveal returns s with its code at hand: s itself when it has no code or
// holds its value, else a copy whose code is read from the event
// CodeEventID names, opened with the database's key; when the method's
// codes were forgotten (amtrack forget), a copy with code null and
// code_forgotten true. Errors: invalid_input when the database was opened
// without its key.
func (p *Projection) Reveal(ctx context.Context, s *domain.AccessMethod) (*domain.AccessMethod, error) {
	if s.Code != nil || s.CodeEventID == nil {
		return s, nil
	}
	code, err := p.db.Log().Code(ctx, *s.CodeEventID)
	if errors.Is(err, store.ErrCodesForgotten) {
		c := s.Clone()
		c.CodeRedacted, c.CodeForgotten = false, true
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reveal the code of access method %s: %w", s.AccessMethodID, err)
	}
	c := s.Clone()
	c.Code = &code
	return c, nil
}
