package spirehcl

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/hashicorp/hcl/hcl/ast"
	"github.com/hashicorp/hcl/hcl/parser"
	hclstrconv "github.com/hashicorp/hcl/hcl/strconv"
	"github.com/hashicorp/hcl/hcl/token"
	jsonparser "github.com/hashicorp/hcl/json/parser"
)

// item is one `key = value` or `key "label" { ... }` of an HCL file.
type item struct {
	keys []string
	line int
	val  value
}

// value is a literal (string, int64, float64 or bool), a list, an object, or JSON's null
// (none of them).
type value struct {
	line int
	lit  any
	list []value
	obj  []*item
}

// parse reads HCL v1, or the JSON form SPIRE also reads, into items. Every error names
// the file, and the line and column where the syntax allows.
func parse(file string, src []byte) (items []*item, err error) {
	// The HCL library panics on some malformed input; a migration tool must answer with
	// an error instead.
	defer func() {
		if r := recover(); r != nil {
			items, err = nil, fmt.Errorf("%s: not valid HCL: %v", file, r)
		}
	}()
	if trimmed := bytes.TrimSpace(src); len(trimmed) > 0 && trimmed[0] == '{' {
		return parseJSON(file, src)
	}
	f, err := parser.Parse(src)
	if err != nil {
		if pe, ok := err.(*parser.PosError); ok {
			return nil, fmt.Errorf("%s:%d:%d: not valid HCL: %v", file, pe.Pos.Line, pe.Pos.Column, pe.Err)
		}
		return nil, fmt.Errorf("%s: not valid HCL: %v", file, err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%s: not valid HCL: the file is not a list of blocks", file)
	}
	return convertList(file, list)
}

func parseJSON(file string, src []byte) ([]*item, error) {
	var v any
	if err := json.Unmarshal(src, &v); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			line, col := position(src, se.Offset)
			return nil, fmt.Errorf("%s:%d:%d: not valid JSON: %v", file, line, col, err)
		}
		return nil, fmt.Errorf("%s: not valid JSON: %v", file, err)
	}
	f, err := jsonparser.Parse(src)
	if err != nil {
		return nil, fmt.Errorf("%s: not valid JSON: %v", file, err)
	}
	list, ok := f.Node.(*ast.ObjectList)
	if !ok {
		return nil, fmt.Errorf("%s: not valid JSON: want an object", file)
	}
	items, err := convertList(file, list)
	return nest(items), err
}

// nest undoes the JSON parser's flattening ({"a": {"b": {...}}} arrives as one item with
// keys a and b), so JSON reads like HCL's `a = { b = { ... } }`, and merges the objects of
// a key split over several items.
func nest(items []*item) []*item {
	out := make([]*item, 0, len(items)) // an empty object stays an object
	byKey := map[string]*item{}
	for _, it := range items {
		for len(it.keys) > 1 {
			last := len(it.keys) - 1
			inner := &item{keys: []string{it.keys[last]}, line: it.line, val: it.val}
			it = &item{keys: it.keys[:last], line: it.line, val: value{line: it.line, obj: []*item{inner}}}
		}
		if it.val.obj != nil && len(it.keys) == 1 {
			if prev, ok := byKey[it.keys[0]]; ok {
				prev.val.obj = append(prev.val.obj, it.val.obj...)
				continue
			}
			byKey[it.keys[0]] = it
		}
		out = append(out, it)
	}
	for _, it := range out {
		if it.val.obj != nil {
			it.val.obj = nest(it.val.obj)
		}
	}
	return out
}

// position turns a byte offset into a line and column, both from 1.
func position(src []byte, offset int64) (line, col int) {
	offset = min(max(offset, 0), int64(len(src)))
	before := src[:offset]
	line = bytes.Count(before, []byte("\n")) + 1
	return line, len(before) - bytes.LastIndexByte(before, '\n')
}

func convertList(file string, list *ast.ObjectList) ([]*item, error) {
	out := make([]*item, 0, len(list.Items))
	for _, it := range list.Items {
		pos := it.Pos()
		if !pos.IsValid() && it.Val != nil {
			pos = it.Val.Pos()
		}
		n := &item{line: pos.Line}
		for _, k := range it.Keys {
			s, err := literal(k.Token)
			if err != nil {
				return nil, fmt.Errorf("%s:%d:%d: not valid HCL: %v", file, k.Token.Pos.Line, k.Token.Pos.Column, err)
			}
			str, ok := s.(string)
			if !ok {
				str = fmt.Sprint(s)
			}
			n.keys = append(n.keys, str)
		}
		v, err := convertValue(file, it.Val)
		if err != nil {
			return nil, err
		}
		n.val = v
		out = append(out, n)
	}
	return out, nil
}

func convertValue(file string, node ast.Node) (value, error) {
	switch v := node.(type) {
	case *ast.LiteralType:
		if v.Token.Type == token.STRING && v.Token.Text == "" {
			return value{}, nil // JSON null
		}
		lit, err := literal(v.Token)
		if err != nil {
			return value{}, fmt.Errorf("%s:%d:%d: not valid HCL: %v", file, v.Token.Pos.Line, v.Token.Pos.Column, err)
		}
		return value{line: v.Token.Pos.Line, lit: lit}, nil
	case *ast.ListType:
		out := value{line: v.Lbrack.Line, list: []value{}}
		for _, e := range v.List {
			ev, err := convertValue(file, e)
			if err != nil {
				return value{}, err
			}
			out.list = append(out.list, ev)
		}
		return out, nil
	case *ast.ObjectType:
		if v.List == nil {
			return value{line: v.Lbrace.Line, obj: []*item{}}, nil
		}
		items, err := convertList(file, v.List)
		if err != nil {
			return value{}, err
		}
		return value{line: v.Lbrace.Line, obj: items}, nil
	}
	return value{}, fmt.Errorf("%s: not valid HCL: unexpected %T", file, node)
}

// literal is token.Token.Value without its panics.
func literal(t token.Token) (any, error) {
	switch t.Type {
	case token.BOOL:
		switch t.Text {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	case token.NUMBER:
		return strconv.ParseInt(t.Text, 0, 64)
	case token.FLOAT:
		return strconv.ParseFloat(t.Text, 64)
	case token.IDENT:
		return t.Text, nil
	case token.STRING:
		if t.Text == "" {
			return "", nil
		}
		if t.JSON {
			return strconv.Unquote(t.Text)
		}
		return hclstrconv.Unquote(t.Text)
	case token.HEREDOC:
		return nil, fmt.Errorf("heredoc strings are not supported here: write a quoted string")
	}
	return nil, fmt.Errorf("unexpected %s %q", t.Type, t.Text)
}
