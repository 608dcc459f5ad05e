package store

import (
	"context"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strings"
	"sync"
)

// Trigger is one of the triggers that make the log append-only, as the
// migrations create it.
type Trigger struct {
	Name string
	SQL  string // the CREATE TRIGGER statement, without its final semicolon
}

// triggerPattern finds the CREATE TRIGGER statements of a migration.
var triggerPattern = regexp.MustCompile(`(?is)CREATE\s+TRIGGER\s+(\w+)\b.*?\bEND\b`)

// AppendOnlyTriggers lists, in name order, the triggers the migrations
// create to keep the log append-only (read from the embedded migrations
// once; callers must not change the slice). Errors: internal.
func AppendOnlyTriggers() ([]Trigger, error) { return appendOnlyTriggers() }

// appendOnlyTriggers and pgAppendOnlyTriggers are the triggers of each
// engine's migrations.
var (
	appendOnlyTriggers   = sync.OnceValues(func() ([]Trigger, error) { return readAppendOnlyTriggers(SQLite) })
	pgAppendOnlyTriggers = sync.OnceValues(func() ([]Trigger, error) { return readAppendOnlyTriggers(Postgres) })
)

// pgTriggerPattern finds PostgreSQL's one-line CREATE TRIGGER statements.
var pgTriggerPattern = regexp.MustCompile(`(?i)CREATE\s+TRIGGER\s+(\w+)\b[^;]*`)

// triggersOf lists the append-only triggers of db's engine.
func (db *DB) triggersOf() ([]Trigger, error) {
	if db.engine == Postgres {
		return pgAppendOnlyTriggers()
	}
	return appendOnlyTriggers()
}

func readAppendOnlyTriggers(e Engine) ([]Trigger, error) {
	pattern := triggerPattern
	if e == Postgres {
		pattern = pgTriggerPattern
	}
	names, err := fs.Glob(migrations, migrationDir(e)+"/*.sql")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var out []Trigger
	for _, name := range names {
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, fmt.Errorf("read migrations: %w", err)
		}
		for _, m := range pattern.FindAllSubmatch(body, -1) {
			out = append(out, Trigger{Name: string(m[1]), SQL: string(m[0])})
		}
		if e == Postgres {
			for _, m := range pgFunctionPattern.FindAllSubmatch(body, -1) {
				out = append(out, Trigger{Name: string(m[1]) + "()", SQL: string(m[0])})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// sameSQL compares two statements ignoring whitespace runs and a final
// semicolon.
func sameSQL(a, b string) bool {
	norm := func(s string) string {
		return strings.Join(strings.Fields(strings.TrimSuffix(strings.TrimSpace(s), ";")), " ")
	}
	return norm(a) == norm(b)
}

// TriggerProblem is an append-only trigger that is missing from the
// database or is not the one amtrack created.
type TriggerProblem struct {
	Name    string
	Altered bool // present under its name, with another body
}

// String says what is wrong with the trigger.
func (p TriggerProblem) String() string {
	if p.Altered {
		return "append-only trigger " + p.Name + " is not the one amtrack created"
	}
	return "append-only trigger " + p.Name + " is missing"
}

// Triggers lists the append-only triggers that are missing or altered.
// Errors: internal.
func (l Log) Triggers(ctx context.Context) ([]TriggerProblem, error) {
	want, err := l.db.triggersOf()
	if err != nil {
		return nil, err
	}
	query := `SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'`
	if l.db.engine == Postgres {
		query = pgTriggersQuery
	}
	rows, err := l.q.QueryContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("read triggers: %w", err)
	}
	defer rows.Close()
	have := map[string]string{}
	for rows.Next() {
		var name, body string
		if err := rows.Scan(&name, &body); err != nil {
			return nil, fmt.Errorf("read triggers: %w", err)
		}
		have[name] = body
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read triggers: %w", err)
	}
	var out []TriggerProblem
	for _, t := range want {
		body, ok := have[t.Name]
		switch {
		case !ok:
			out = append(out, TriggerProblem{Name: t.Name})
		case !sameSQL(l.db.normTrigger(body), t.SQL):
			out = append(out, TriggerProblem{Name: t.Name, Altered: true})
		}
	}
	return out, nil
}

// repairTriggers recreates, in one transaction, the append-only triggers
// that are missing or altered, and remembers them for RepairedTriggers.
func (db *DB) repairTriggers(ctx context.Context) error {
	want, err := db.triggersOf()
	if err != nil {
		return err
	}
	byName := map[string]Trigger{}
	for _, t := range want {
		byName[t.Name] = t
	}
	// Most opens find nothing to repair: look before taking the write lock.
	if problems, err := (Log{q: db.write, db: db}).Triggers(ctx); err == nil && len(problems) == 0 {
		return nil
	}
	var repaired []TriggerProblem
	err = db.Update(ctx, func(tx *Tx) error {
		problems, err := tx.Log().Triggers(ctx)
		if err != nil {
			return err
		}
		for _, p := range problems {
			if drop := db.dropTrigger(byName[p.Name]); p.Altered && drop != "" {
				if _, err := tx.ExecContext(ctx, drop); err != nil {
					return fmt.Errorf("drop altered trigger %s: %w", p.Name, err)
				}
			}
			if _, err := tx.ExecContext(ctx, db.createTrigger(byName[p.Name])); err != nil {
				return fmt.Errorf("recreate trigger %s: %w", p.Name, err)
			}
		}
		repaired = problems
		return nil
	})
	if err != nil {
		return fmt.Errorf("check the log's triggers: %w", err)
	}
	db.repaired = repaired
	return nil
}

// RepairedTriggers lists the append-only triggers that Open found missing
// or altered and recreated: their absence means the log may have been
// edited outside amtrack, which amtrack verify checks. Empty for a database
// opened read only (which is never repaired).
func (db *DB) RepairedTriggers() []TriggerProblem { return db.repaired }
