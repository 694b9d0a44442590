package pyjson

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// ErrNotObject is returned by EachMember for a JSON value that is not an
// object.
var ErrNotObject = errors.New("not a JSON object")

// EachMember streams the members of the one JSON object r holds, in the
// order written (a duplicated key is reported each time), to its end: one
// value in memory at a time. Data after the object is an error, and so is
// a key holding U+FFFD: encoding/json puts it for invalid UTF-8 and lone
// surrogates, so such a key may not be the one written.
func EachMember(r io.Reader, fn func(key string, value json.RawMessage) error) error {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<20))
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf("%w (starts with %v)", ErrNotObject, tok)
	}
	var value json.RawMessage
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key := tok.(string)
		if strings.ContainsRune(key, utf8.RuneError) {
			return fmt.Errorf("key %q holds U+FFFD, or invalid UTF-8 or a lone surrogate that the decoder replaced by it: refused rather than risk another key", key)
		}
		if err := dec.Decode(&value); err != nil {
			return fmt.Errorf("value of %q: %w", key, err)
		}
		if err := fn(key, value); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
