package command

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

func (e *Env) print(out *Output) error {
	if !e.JSON {
		if out.Text == nil {
			return nil
		}
		return out.Text(e.Stdout)
	}
	switch len(out.JSON) {
	case 0:
		return nil
	case 1:
		return PrintJSON(e.Stdout, out.JSON[0])
	}
	var buf bytes.Buffer
	buf.WriteByte('[')
	for i, m := range out.JSON {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := PrintJSON(&buf, m); err != nil {
			return err
		}
		buf.Truncate(buf.Len() - 1) // the newline
	}
	buf.WriteString("]\n")
	_, err := e.Stdout.Write(buf.Bytes())
	return err
}

// PrintJSON writes msg as one line of JSON the way SPIRE's CLI prints it: protojson with
// the proto field names (the spelling -data files use), zero scalars and empty lists
// included so the keys are always there, unset messages left out, keys sorted.
func PrintJSON(w io.Writer, msg proto.Message) error {
	data, err := protojson.MarshalOptions{UseProtoNames: true, EmitDefaultValues: true}.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	// protojson varies its whitespace and key order on purpose; a round trip through
	// encoding/json gives byte-stable output (numbers kept as written, <>& escaped, as
	// SPIRE's are).
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	_, err = w.Write(append(out, '\n'))
	return err
}

func jsonOne(msg proto.Message) []proto.Message { return []proto.Message{msg} }
