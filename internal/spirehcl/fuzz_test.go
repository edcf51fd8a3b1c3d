package spirehcl

import "testing"

// FuzzParse: any input parses or fails with an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"server { trust_domain = \"example.org\"\n bind_port = \"8081\" }",
		"plugins { DataStore \"sql\" { plugin_data = { database_type = \"sqlite3\" } } }",
		"a = [1, 2.5, true, \"x\"]\nb = 0x10\nc = 99999999999999999999999",
		"x = <<EOF\nhi\nEOF\n",
		"\"\\q\" = 1",
		`{"a": {"b": {"c": null, "d": [{"e": {}}]}}, "f": 1.5}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		file, err := Parse("fuzz.conf", src)
		if err != nil {
			return
		}
		file.Root.Done()
		_ = file.Err()
	})
}
