package sqlstore

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/lanyard-dev/lanyard/attestors"
	"github.com/lanyard-dev/lanyard/server/datastore"
)

// setFilter returns a WHERE term that keeps the rows of the outer table (alias outer, key
// column id) whose child rows in table (joined by fk) compare to want under m the way
// datastore.MatchSelectors defines. want holds distinct tuples, one value per column in cols.
//
// Every mode starts from the child rows equal to a wanted tuple, found through the index on
// cols, so the cost grows with the number of records sharing a selector, not the table size.
func setFilter(outer, table, fk string, cols []string, want [][]any, m datastore.MatchBehavior) (string, []any, error) {
	if err := datastore.ValidMatchBehavior(m); err != nil {
		return "", nil, err
	}
	terms := func(alias string) (string, []any) {
		var b strings.Builder
		var args []any
		for i, tuple := range want {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(")
			for j, c := range cols {
				if j > 0 {
					b.WriteString(" AND ")
				}
				fmt.Fprintf(&b, "%s%s = ?", alias, c)
				args = append(args, tuple[j])
			}
			b.WriteString(")")
		}
		return b.String(), args
	}
	match, args := terms("")
	anyOf := fmt.Sprintf("%s.id IN (SELECT %s FROM %s WHERE %s)", outer, fk, table, match)
	switch m {
	case datastore.MatchAny:
		return anyOf, args, nil
	case datastore.MatchSubset:
		// Shares a tuple with want, and has no tuple outside want.
		other, otherArgs := terms("c.")
		term := fmt.Sprintf("%s AND NOT EXISTS (SELECT 1 FROM %s c WHERE c.%s = %s.id AND NOT (%s))",
			anyOf, table, fk, outer, other)
		return term, append(args, otherArgs...), nil
	}
	// Superset: every wanted tuple is among the record's. Child rows are distinct (primary key),
	// so counting the matching ones is enough.
	term := fmt.Sprintf("%s.id IN (SELECT %s FROM %s WHERE %s GROUP BY %s HAVING count(*) = ?)",
		outer, fk, table, match, fk)
	args = append(args, len(want))
	if m == datastore.MatchExact {
		term += fmt.Sprintf(" AND (SELECT count(*) FROM %s c WHERE c.%s = %s.id) = ?", table, fk, outer)
		args = append(args, len(want))
	}
	return term, args, nil
}

func selectorTuples(s []attestors.Selector) [][]any {
	s = datastore.SortSelectors(s)
	out := make([][]any, len(s))
	for i, sel := range s {
		out[i] = []any{sel.Type, sel.Value}
	}
	return out
}

func stringTuples(s []string) [][]any {
	s = sortedUnique(s)
	out := make([][]any, len(s))
	for i, v := range s {
		out[i] = []any{v}
	}
	return out
}

// pageQuery returns the WHERE term and LIMIT for a page of a listing ordered by keyCol.
// It asks for one row more than the page so the caller knows whether another page follows.
func pageQuery(keyCol string, p datastore.Page) (where string, args []any, limit int, err error) {
	if p.Size < 0 {
		return "", nil, 0, fmt.Errorf("page size %d is negative: use 0 for everything", p.Size)
	}
	limit = noLimit
	if p.Size > 0 {
		limit = p.Size + 1
	}
	if p.Token == "" {
		return "", nil, limit, nil
	}
	after, err := base64.RawURLEncoding.DecodeString(p.Token)
	if err != nil || len(after) == 0 {
		return "", nil, 0, errors.New("invalid page token: pass back the token of the previous page unchanged")
	}
	return keyCol + " > ?", []any{string(after)}, limit, nil
}

// nextToken trims the extra row pageQuery asked for and returns the next page's token.
func nextToken[T any](items []T, p datastore.Page, key func(T) string) ([]T, string) {
	if p.Size <= 0 || len(items) <= p.Size {
		return items, ""
	}
	items = items[:p.Size]
	return items, base64.RawURLEncoding.EncodeToString([]byte(key(items[len(items)-1])))
}

func whereClause(terms []string) string {
	if len(terms) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(terms, " AND ")
}
