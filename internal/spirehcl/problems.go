package spirehcl

import (
	"fmt"
	"sort"
	"strings"
)

// Error lists everything in a SPIRE file that Lanyard cannot take, one line each:
// "file:line: key: what is wrong and what to do" (no line for JSON files).
type Error struct {
	Lines []string
}

func (e *Error) Error() string { return strings.Join(e.Lines, "\n") }

// problems collects refusals while a file is walked.
type problems struct {
	file string
	list []problem
}

type problem struct {
	line     int
	key, msg string
}

func (p *problems) add(line int, key, msg string) {
	p.list = append(p.list, problem{line: line, key: key, msg: msg})
}

// err returns nil when nothing was refused, else an *Error ordered by line.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	sort.SliceStable(p.list, func(i, j int) bool { return p.list[i].line < p.list[j].line })
	e := &Error{}
	for _, q := range p.list {
		if q.line == 0 { // JSON files carry no positions
			e.Lines = append(e.Lines, fmt.Sprintf("%s: %s: %s", p.file, q.key, q.msg))
			continue
		}
		e.Lines = append(e.Lines, fmt.Sprintf("%s:%d: %s: %s", p.file, q.line, q.key, q.msg))
	}
	return e
}
