package ngbak

import (
	"errors"
	"fmt"
	"io"
)

// NewReader returns a Reader of the backend b whose files next produces
// one by one, until it returns io.EOF: a Converter hands the exporter it
// converts for the files it made from the archive's, as that exporter's
// Restore expects them. b describes those files (their names and what the
// manifest would say); next is called by Reader.Next, so each file may be
// made only when the exporter asks for it, and nothing needs to be held
// beyond one file.
func NewReader(b *Backend, next func() (name string, size int64, body io.Reader, err error)) *Reader {
	return &Reader{backend: b, src: next}
}

func (r *Reader) nextFromSource() (string, int64, error) {
	if r.done {
		return "", 0, io.EOF
	}
	name, size, body, err := r.src()
	if errors.Is(err, io.EOF) {
		r.done, r.cur = true, nil
		return "", 0, io.EOF
	}
	if err != nil {
		return "", 0, err
	}
	if body == nil {
		return "", 0, fmt.Errorf("ngbak: %s: no body", name)
	}
	r.cur = io.LimitReader(body, size)
	return name, size, nil
}
