package ngbak

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"
)

// A chunk list is what a deduplicated storage keeps under <id>.ngbak: the
// archive's tar stream as the chunks that make it, in order. It is text,
// one line each, so that it streams both ways in bounded memory and can be
// read by eye:
//
//	ngbak-chunks/2 plain|sealed
//	<64 hex chunk id> <plaintext size>
//	...
//	end <chunks> <total size>
//
// "sealed" chunks are encrypted and their ids keyed (see dedupKey). The
// end line makes a list cut short detectable on its own.
//
// The backup's <id>.ngbak.sha256 holds the SHA-256 of a version 2 list,
// as it does of a plain archive: each chunk is checked against its id when
// it is read, so the list's sum covers the reassembled stream without a
// pass over it (a Merkle tree of one level). Version 1 lists, the same
// lines, had the SHA-256 of the reassembled tar stream in the sidecar;
// they are read as ever.

const (
	chunkListMagic   = "ngbak-chunks/2"
	chunkListMagicV1 = "ngbak-chunks/1"
)

// maxChunkLine bounds a line of a chunk list: an id, a size, separators.
const maxChunkLine = 128

type chunkRef struct {
	ID     [32]byte
	Size   int64
	Sealed bool // the list's mode, set by chunkListReader
}

func (c chunkRef) name() string { return chunkPrefix + hex.EncodeToString(c.ID[:]) }

// chunkListWriter writes a chunk list to w.
type chunkListWriter struct {
	w      *bufio.Writer
	h      hash.Hash // of the list's bytes
	size   int64     // of the list
	n      int64
	total  int64
	closed bool
	err    error // close's
}

func newChunkListWriter(w io.Writer, sealed bool) (*chunkListWriter, error) {
	l := &chunkListWriter{h: sha256.New()}
	l.w = bufio.NewWriterSize(io.MultiWriter(w, l.h), 64<<10)
	mode := "plain"
	if sealed {
		mode = "sealed"
	}
	if err := l.write(fmt.Appendf(nil, "%s %s\n", chunkListMagic, mode)); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *chunkListWriter) write(b []byte) error {
	l.size += int64(len(b))
	_, err := l.w.Write(b)
	return err
}

func (l *chunkListWriter) add(c chunkRef) error {
	l.n++
	l.total += c.Size
	var line [maxChunkLine]byte
	b := hex.AppendEncode(line[:0], c.ID[:])
	b = append(b, ' ')
	b = strconv.AppendInt(b, c.Size, 10)
	b = append(b, '\n')
	return l.write(b)
}

// close writes the end line and flushes the list; a second call returns
// what the first did.
func (l *chunkListWriter) close() error {
	if !l.closed {
		l.closed = true
		l.err = l.write(fmt.Appendf(nil, "end %d %d\n", l.n, l.total))
		if l.err == nil {
			l.err = l.w.Flush()
		}
	}
	return l.err
}

// sum is the SHA-256 of the list and its size, once closed.
func (l *chunkListWriter) sum() (string, int64) {
	return hex.EncodeToString(l.h.Sum(nil)), l.size
}

// chunkListReader reads a chunk list as a stream, refusing anything that
// is not exactly what chunkListWriter writes.
type chunkListReader struct {
	r       *bufio.Reader
	sealed  bool
	version int       // 1 or 2
	h       hash.Hash // of the lines read
	size    int64     // of the lines read
	maxLen  int64
	n       int64
	total   int64
	done    bool
}

// newChunkListReader reads the header of a chunk list. maxChunk bounds the
// size a line may give a chunk.
func newChunkListReader(r io.Reader, maxChunk int64) (*chunkListReader, error) {
	l := &chunkListReader{r: bufio.NewReaderSize(r, 64<<10), maxLen: maxChunk, h: sha256.New()}
	line, err := l.line()
	if err != nil {
		return nil, err
	}
	magic, mode, _ := bytes.Cut(line, []byte(" "))
	switch string(magic) {
	case chunkListMagic:
		l.version = 2
	case chunkListMagicV1:
		l.version = 1
	default:
		return nil, corrupt("not a chunk list (%.40q)", line)
	}
	switch string(mode) {
	case "plain":
	case "sealed":
		l.sealed = true
	default:
		return nil, corrupt("chunk list of an unknown mode (%.40q)", line)
	}
	return l, nil
}

// sum is the SHA-256 and size of the list, once next has returned io.EOF:
// the lines it read are then the whole list, nothing after its end line.
func (l *chunkListReader) sum() (string, int64) {
	return hex.EncodeToString(l.h.Sum(nil)), l.size
}

func (l *chunkListReader) line() ([]byte, error) {
	line, err := l.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull || len(line) > maxChunkLine {
		return nil, corrupt("chunk list line longer than %d bytes", maxChunkLine)
	}
	if err == io.EOF {
		return nil, corrupt("chunk list cut short")
	}
	if err != nil {
		return nil, err
	}
	l.h.Write(line)
	l.size += int64(len(line))
	return line[:len(line)-1], nil
}

// next returns the next chunk, or io.EOF after the end line, which it
// checks against what it read.
func (l *chunkListReader) next() (chunkRef, error) {
	if l.done {
		return chunkRef{}, io.EOF
	}
	line, err := l.line()
	if err != nil {
		return chunkRef{}, err
	}
	if rest, ok := bytes.CutPrefix(line, []byte("end ")); ok {
		n, total, ok := bytes.Cut(rest, []byte(" "))
		if !ok || !canonicalInt(n) || !canonicalInt(total) || string(n) != strconv.FormatInt(l.n, 10) || string(total) != strconv.FormatInt(l.total, 10) {
			return chunkRef{}, corrupt("chunk list end line %q does not match its %d chunks of %d bytes", line, l.n, l.total)
		}
		if extra, _ := l.r.Peek(1); len(extra) > 0 {
			return chunkRef{}, corrupt("data after the end of the chunk list")
		}
		l.done = true
		return chunkRef{}, io.EOF
	}
	id, size, ok := bytes.Cut(line, []byte(" "))
	var c chunkRef
	if !ok || len(id) != 64 || !lowerHex(id) || !canonicalInt(size) {
		return chunkRef{}, corrupt("bad chunk list line %q", line)
	}
	hex.Decode(c.ID[:], id)
	c.Size, err = strconv.ParseInt(string(size), 10, 64)
	if err != nil || c.Size <= 0 || c.Size > l.maxLen {
		return chunkRef{}, corrupt("chunk list line %q: size not within 1 to %d", line, l.maxLen)
	}
	if l.total > 1<<62-c.Size {
		return chunkRef{}, corrupt("chunk list total overflows")
	}
	l.n++
	l.total += c.Size
	c.Sealed = l.sealed
	return c, nil
}

func canonicalInt(b []byte) bool {
	if len(b) == 0 || len(b) > 19 || (b[0] == '0' && len(b) > 1) {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
