package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
)

// writer is how an inserter reaches SQLite: one transaction at a time, with
// statements prepared on it.
type writer interface {
	begin(ctx context.Context) error
	prepare(ctx context.Context, query string) (stmt, error)
	commit() error
	rollback()
}

// stmt is a prepared INSERT of the open transaction.
type stmt interface {
	exec(ctx context.Context, args []any) error
	close()
}

// sqlWriter goes through database/sql, as amtrack does.
type sqlWriter struct {
	db *sql.DB
	tx *sql.Tx
}

func (w *sqlWriter) begin(ctx context.Context) (err error) {
	w.tx, err = w.db.BeginTx(ctx, nil)
	return err
}

func (w *sqlWriter) prepare(ctx context.Context, query string) (stmt, error) {
	st, err := w.tx.PrepareContext(ctx, query)
	return sqlStmt{st}, err
}

func (w *sqlWriter) commit() error {
	err := w.tx.Commit()
	w.tx = nil
	return err
}

func (w *sqlWriter) rollback() {
	if w.tx != nil {
		_ = w.tx.Rollback()
		w.tx = nil
	}
}

type sqlStmt struct{ st *sql.Stmt }

func (s sqlStmt) exec(ctx context.Context, args []any) error {
	_, err := s.st.ExecContext(ctx, args...)
	return err
}

func (s sqlStmt) close() { _ = s.st.Close() }

// rawWriter goes below database/sql, to the driver's own connection: no
// conversion or check of each value, no pool, no lock; what is left is the
// driver's binding of each value to SQLite.
type rawWriter struct {
	conn driver.Conn
	tx   driver.Tx
}

// withRawWriter runs fn with a rawWriter on one connection of db.
func withRawWriter(ctx context.Context, db *sql.DB, fn func(*rawWriter) error) error {
	c, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	return c.Raw(func(dc any) error {
		conn, ok := dc.(driver.Conn)
		if !ok {
			return fmt.Errorf("the driver's connection is a %T", dc)
		}
		return fn(&rawWriter{conn: conn})
	})
}

func (w *rawWriter) begin(ctx context.Context) (err error) {
	b, ok := w.conn.(driver.ConnBeginTx)
	if !ok {
		return errors.New("the driver cannot begin a transaction with a context")
	}
	w.tx, err = b.BeginTx(ctx, driver.TxOptions{})
	return err
}

func (w *rawWriter) prepare(ctx context.Context, query string) (stmt, error) {
	p, ok := w.conn.(driver.ConnPrepareContext)
	if !ok {
		return nil, errors.New("the driver cannot prepare with a context")
	}
	st, err := p.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	e, ok := st.(driver.StmtExecContext)
	if !ok {
		_ = st.Close()
		return nil, errors.New("the driver's statement cannot execute with a context")
	}
	return &rawStmt{st: st, execer: e}, nil
}

func (w *rawWriter) commit() error {
	err := w.tx.Commit()
	w.tx = nil
	return err
}

func (w *rawWriter) rollback() {
	if w.tx != nil {
		_ = w.tx.Rollback()
		w.tx = nil
	}
}

type rawStmt struct {
	st     driver.Stmt
	execer driver.StmtExecContext
	named  []driver.NamedValue // reused from one execution to the next
}

func (s *rawStmt) exec(ctx context.Context, args []any) error {
	s.named = s.named[:0]
	for i, v := range args {
		s.named = append(s.named, driver.NamedValue{Ordinal: i + 1, Value: v})
	}
	_, err := s.execer.ExecContext(ctx, s.named)
	clear(s.named)
	return err
}

func (s *rawStmt) close() { _ = s.st.Close() }
