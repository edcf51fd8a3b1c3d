package yamlconf

import (
	"errors"
	"strings"
	"testing"
)

type conf struct {
	A int `yaml:"a"`
	B int `yaml:"b"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    conf
		wantErr string
	}{
		{"one document is read", "a: 1\nb: 2\n", conf{A: 1, B: 2}, ""},
		{"an empty file changes nothing", "", conf{A: 7}, ""},
		{"a leading separator is fine", "---\na: 1\n", conf{A: 1}, ""},
		{"a trailing separator with nothing after it is fine", "a: 1\n---\n", conf{A: 1}, ""},
		{"a second document is an error naming its line", "a: 1\n---\nb: 2\n", conf{}, "second YAML document at line 3"},
		{"a second document after empty ones is an error", "a: 1\n---\n---\nb: 2\n", conf{}, "second YAML document"},
		{"an unknown key is an error", "c: 1\n", conf{}, "field c not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := conf{A: 7}
			err := Decode([]byte(tt.in), &got)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Decode: %v, want an error mentioning %q", err, tt.wantErr)
				}
				if strings.Contains(tt.wantErr, "second") && !errors.Is(err, ErrSecondDocument) {
					t.Fatalf("error %v is not ErrSecondDocument", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Decode = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}
