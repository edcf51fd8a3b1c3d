package spirehcl

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// Command runs `NAME migrate-config SPIRE_FILE`: the converted YAML on stdout, or every
// problem on stderr, one a line, and exit status 1.
func Command(name string, args []string, stdout, stderr io.Writer, convert func(file string, src []byte) ([]byte, error)) int {
	if len(args) != 1 || args[0] == "" || args[0][0] == '-' {
		fmt.Fprintf(stderr, "Usage: %s migrate-config SPIRE_CONFIG_FILE > lanyard.yaml\n", name)
		return 2
	}
	src, err := os.ReadFile(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	out, err := convert(args[0], src)
	if err != nil {
		fmt.Fprintln(stderr, err)
		var e *Error
		if errors.As(err, &e) {
			fmt.Fprintf(stderr, "%s: %d problem(s); nothing was written\n", args[0], len(e.Lines))
		}
		return 1
	}
	if _, err := stdout.Write(out); err != nil {
		fmt.Fprintln(stderr, "Error:", err)
		return 1
	}
	return 0
}
