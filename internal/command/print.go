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

// PrintJSON writes msg as one line of protojson. Field names are the proto names, the
// same spelling -data files use, and zero values are included so the keys are always
// there.
func PrintJSON(w io.Writer, msg proto.Message) error {
	data, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	// protojson varies its whitespace on purpose; compacting gives byte-stable output.
	var buf bytes.Buffer
	if err := json.Compact(&buf, data); err != nil {
		return fmt.Errorf("encoding JSON output: %w", err)
	}
	buf.WriteByte('\n')
	_, err = w.Write(buf.Bytes())
	return err
}

func jsonOne(msg proto.Message) []proto.Message { return []proto.Message{msg} }
