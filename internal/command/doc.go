// Package command is the one command-line pattern of lanyard-server and lanyard-agent: a
// table of commands, each its words, its flags and a run function returning what to
// print, and one runner that parses flags (with -output pretty|json on every command),
// prints the text or the protojson of the response, and turns errors into one line and an
// exit code.
package command
