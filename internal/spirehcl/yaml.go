package spirehcl

import (
	"strings"

	"gopkg.in/yaml.v3"
)

// Doc builds the Lanyard YAML document, keys in the order they are set, with comments
// that explain what changed on the way.
type Doc struct {
	root yaml.Node
	head []string
}

// NewDoc starts a document whose first lines are head (comment lines, without "#").
func NewDoc(head ...string) *Doc {
	return &Doc{root: yaml.Node{Kind: yaml.MappingNode}, head: head}
}

// Set writes v at the path keys, with comment (may be "") above it.
func (d *Doc) Set(v any, comment string, keys ...string) {
	var n yaml.Node
	if err := n.Encode(v); err != nil {
		// Only the converters' own plain values reach here.
		panic("spirehcl: cannot encode " + err.Error())
	}
	k, val := d.entry(keys)
	*val = n
	addComment(k, comment)
}

// Map makes sure a (possibly empty) mapping exists at keys, with comment above it.
func (d *Doc) Map(comment string, keys ...string) {
	k, _ := d.entry(keys)
	addComment(k, comment)
}

// Note adds a comment line at the end of the document.
func (d *Doc) Note(comment string) {
	d.root.FootComment = joinComment(d.root.FootComment, comment)
}

// entry returns the key and value nodes at keys, creating mappings on the way.
func (d *Doc) entry(keys []string) (*yaml.Node, *yaml.Node) {
	m := &d.root
	var k, v *yaml.Node
	for _, key := range keys {
		k, v = nil, nil
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value == key {
				k, v = m.Content[i], m.Content[i+1]
			}
		}
		if k == nil {
			k = &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}
			v = &yaml.Node{Kind: yaml.MappingNode}
			m.Content = append(m.Content, k, v)
		}
		m = v
	}
	return k, v
}

func addComment(k *yaml.Node, comment string) {
	if comment != "" {
		k.HeadComment = joinComment(k.HeadComment, comment)
	}
}

func joinComment(old, add string) string {
	var lines []string
	for _, l := range strings.Split(add, "\n") {
		lines = append(lines, "# "+l)
	}
	if old == "" {
		return strings.Join(lines, "\n")
	}
	return old + "\n" + strings.Join(lines, "\n")
}

// Bytes renders the document.
func (d *Doc) Bytes() ([]byte, error) {
	doc := yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{&d.root}}
	for _, h := range d.head {
		doc.HeadComment = joinComment(doc.HeadComment, h)
	}
	var b strings.Builder
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return []byte(b.String()), nil
}
