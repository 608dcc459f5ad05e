// Package domain holds amtrack's core types: Seam events and their strict
// parser, the access-method state and its pure fold, grant summaries, and the
// one error type every layer speaks. It imports the standard library only.
package domain

import (
	"errors"
	"fmt"
)

// Error codes. The api maps each to exactly one HTTP status.
const (
	EInvalid      = "invalid_input"
	ENotFound     = "not_found"
	EConflict     = "conflict"
	EUnauthorized = "unauthorized"
	ETooLarge     = "payload_too_large"
	EInternal     = "internal"
	// EUnavailable: the database cannot take a write now (a full disk, a
	// read-only or damaged file); retrying later may succeed.
	EUnavailable = "unavailable"
)

// Error is amtrack's error type: a machine-readable code, the field it is
// about (empty when it concerns the whole input) and a message for users.
type Error struct {
	Code      string
	Field     string
	Message   string
	EventType string // the event's type, when the error is about a typed event
}

// Error returns the message, prefixed with the event type and the field when
// they are known: `access_method.issued: field "code": want string, got number`.
func (e *Error) Error() string {
	msg := e.Message
	if e.Field != "" {
		msg = fmt.Sprintf("field %q: %s", e.Field, msg)
	}
	if e.EventType != "" {
		msg = e.EventType + ": " + msg
	}
	return msg
}

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldErrorf returns an invalid_input *Error about one field.
func FieldErrorf(field, format string, args ...any) *Error {
	return &Error{Code: EInvalid, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, internal for
// any other non-nil error and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user-facing message of err: the *Error's text, or
// "internal error" for errors that must not leak details.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Error()
	}
	return "internal error"
}
