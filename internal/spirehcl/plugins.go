package spirehcl

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Plugin is one enabled `Type "name" { plugin_data { ... } }` of the plugins block.
type Plugin struct {
	Type, Name string
	Line       int
	// Data is plugin_data (written as a block or as `plugin_data = { ... }`); empty when absent.
	Data *Section
}

// Plugins reads the plugins block. supported maps each plugin type Lanyard has to its
// plugin names; anything else is refused by name, as are external plugin binaries and
// plugin_data_file. Plugins with enabled = false are skipped, with a note in doc. Of each
// type only one plugin may be enabled, except the types listed in multi.
func (s *Section) Plugins(doc *Doc, supported map[string][]string, multi ...string) map[string][]Plugin {
	out := map[string][]Plugin{}
	plugins, ok := s.Block("plugins")
	if !ok {
		return out
	}
	for _, it := range plugins.blocks() {
		typ, name := it.keys[0], it.keys[1]
		key := fmt.Sprintf("%s %q", typ, name)
		p := plugins.labeled(typ, name, it.line, it.val.obj)
		if enabled, ok := p.Bool("enabled"); ok && !enabled {
			// SPIRE ignores a disabled plugin, whatever it is.
			p.takeAll()
			doc.Note(plugins.Key(key) + " is skipped: it has enabled = false.")
			continue
		}
		names, known := supported[typ]
		switch {
		case !known:
			plugins.Refusef(it.line, key, "not supported by Lanyard (it has no %s plugins): remove the block; Lanyard has %s", typ, list(supported))
			continue
		case !slices.Contains(names, name):
			plugins.Refusef(it.line, key, "not supported by Lanyard: use %s %s, or keep SPIRE for this", typ, strings.Join(quoted(names), " or "))
			continue
		}
		p.Refuse("plugin_cmd", "external plugin binaries are not supported: Lanyard's plugins are built in; remove plugin_cmd and plugin_checksum")
		p.Refuse("plugin_checksum", "external plugin binaries are not supported: remove it")
		p.Refuse("plugin_data_file", "not supported: move the file's settings into a plugin_data block")
		data, ok := p.Block("plugin_data")
		if !ok {
			data = newSection(p.Key("plugin_data"), it.line, nil, s.p)
		}
		p.Done()
		if len(out[typ]) > 0 && !slices.Contains(multi, typ) {
			plugins.Refusef(it.line, key, "a second %s: Lanyard runs one; keep one of them", typ)
			continue
		}
		out[typ] = append(out[typ], Plugin{Type: typ, Name: name, Line: it.line, Data: data})
	}
	return out
}

func list(supported map[string][]string) string {
	var parts []string
	for _, typ := range slices.Sorted(maps.Keys(supported)) {
		parts = append(parts, typ+" "+strings.Join(quoted(supported[typ]), "/"))
	}
	return strings.Join(parts, ", ")
}

func quoted(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = fmt.Sprintf("%q", n)
	}
	return out
}

// blocks lists the plugin blocks `Type "name" { ... }`, also written (as in JSON)
// `Type = { name = { ... } }`, each with keys Type and name.
func (s *Section) blocks() []*item {
	var out []*item
	for i, it := range s.items {
		s.used[i] = true
		switch {
		case len(it.keys) == 2 && it.val.obj != nil:
			out = append(out, it)
			continue
		case len(it.keys) == 1 && it.val.obj != nil:
			for _, in := range it.val.obj {
				if len(in.keys) == 1 && in.val.obj != nil {
					out = append(out, &item{keys: []string{it.keys[0], in.keys[0]}, line: in.line, val: in.val})
					continue
				}
				s.Refusef(in.line, it.keys[0]+" "+strings.Join(in.keys, " "), "want Type \"name\" { plugin_data { ... } }")
			}
			continue
		}
		s.Refusef(it.line, strings.Join(it.keys, " "), "want Type \"name\" { plugin_data { ... } }")
	}
	return out
}
