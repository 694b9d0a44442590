package ngbak

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/restic/chunker"
)

// dedupKey is what an encrypted deduplicating repository keeps secret: a
// random master key, stored only as the Encryption's ciphertext in
// dedupKeyName, from which three keys are derived (HMAC-SHA256 with a
// label): one keys the chunk ids, so that a chunk's name says nothing about
// its plaintext (a bare SHA-256 would let anyone holding a guess of a
// document confirm it is in the backups); one seals the chunks with
// AES-256-GCM, each with a random nonce and its id as additional data, so
// that a chunk swapped under another's name fails to open; and one picks
// the chunker's polynomial, so that chunk sizes do not fingerprint known
// content either (restic does the same with a random polynomial per
// repository).
type dedupKey struct {
	id   []byte
	aead cipher.AEAD
	pol  chunker.Pol
}

const (
	dedupKeyName  = "ngbak-dedup.key"
	dedupKeyMagic = "ngbak-dedup-key/1\n"
)

// plainPol is the chunker polynomial of an unencrypted repository. It is
// fixed: its chunks are named by their plain SHA-256 anyway.
const plainPol = chunker.Pol(0x3DA3358B4DC173)

func deriveKey(master []byte) (*dedupKey, error) {
	sub := func(label string) []byte {
		h := hmac.New(sha256.New, master)
		h.Write([]byte(label))
		return h.Sum(nil)
	}
	block, err := aes.NewCipher(sub("ngbak chunk seal"))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	pol, err := chunker.DerivePolynomial(&hmacStream{key: sub("ngbak chunker polynomial")})
	if err != nil {
		return nil, err
	}
	return &dedupKey{id: sub("ngbak chunk id"), aead: aead, pol: pol}, nil
}

// hmacStream is a deterministic stream of bytes from a key: HMAC-SHA256 of
// a counter.
type hmacStream struct {
	key []byte
	n   uint64
	buf []byte
}

func (s *hmacStream) Read(p []byte) (int, error) {
	if len(s.buf) == 0 {
		h := hmac.New(sha256.New, s.key)
		binary.Write(h, binary.BigEndian, s.n)
		s.n++
		s.buf = h.Sum(nil)
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

// chunkID names a chunk: SHA-256 of its plaintext, keyed when sealed.
func (k *dedupKey) chunkID(data []byte) [32]byte {
	if k == nil {
		return sha256.Sum256(data)
	}
	h := hmac.New(sha256.New, k.id)
	h.Write(data)
	var id [32]byte
	h.Sum(id[:0])
	return id
}

// loadKey reads the repository's master key; with create it makes one
// when there is none, which the first Create to commit stores
// (storePendingKey), so that one cancelled leaves nothing.
func (d *dedupStorage) loadKey(ctx context.Context, create bool) (*dedupKey, error) {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	if d.key != nil {
		return d.key, nil
	}
	if d.enc == nil {
		return nil, errors.New("no Options.Encryption")
	}
	k, err := d.readKey(ctx)
	if err == nil {
		d.key = k
		return k, nil
	}
	if !errors.Is(err, ErrNotFound) || !create {
		return nil, err
	}
	master := make([]byte, 32)
	rand.Read(master)
	var buf bytes.Buffer
	ew, err := d.enc.Encrypt(&buf)
	if err != nil {
		return nil, fmt.Errorf("encrypting the repository key: %w", err)
	}
	ew.Write([]byte(dedupKeyMagic))
	ew.Write(master)
	if err := ew.Close(); err != nil {
		return nil, fmt.Errorf("encrypting the repository key: %w", err)
	}
	if d.key, err = deriveKey(master); err != nil {
		return nil, err
	}
	d.pendingKey = buf.Bytes()
	return d.key, nil
}

// storePendingKey stores a key loadKey made. Two processes that made one
// each: the object is written without overwrite, so one wins, and the
// other's Create fails (its chunks are sealed with a key that is not the
// repository's); it works when tried again.
func (d *dedupStorage) storePendingKey(ctx context.Context) error {
	d.keyMu.Lock()
	defer d.keyMu.Unlock()
	if d.pendingKey == nil {
		return nil
	}
	err := putObject(ctx, d.inner, dedupKeyName, d.pendingKey)
	if errors.Is(err, ErrExists) {
		if k, rerr := d.readKey(ctx); rerr == nil && hmac.Equal(k.id, d.key.id) {
			err = nil
		} else {
			d.key, d.pendingKey = nil, nil
			err = fmt.Errorf("%w: another process stored the repository key first; try again", ErrBusy)
		}
	}
	if err != nil {
		return fmt.Errorf("storing the repository key: %w", err)
	}
	d.pendingKey = nil
	return nil
}

func (d *dedupStorage) readKey(ctx context.Context) (*dedupKey, error) {
	rc, err := d.inner.Open(ctx, dedupKeyName)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	r, err := d.enc.Decrypt(io.LimitReader(rc, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v (a deduplicating repository needs a key that decrypts, an identity and not only a recipient, to write and read chunks)", ErrKey, dedupKeyName, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, 1024))
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrKey, dedupKeyName, err)
	}
	master, ok := bytes.CutPrefix(data, []byte(dedupKeyMagic))
	if !ok || len(master) != 32 {
		return nil, corrupt("%s does not hold a repository key", dedupKeyName)
	}
	return deriveKey(master)
}

// seal compresses a chunk and, with a key, encrypts it.
func (d *dedupStorage) seal(k *dedupKey, id [32]byte, data []byte) []byte {
	z := d.zenc.EncodeAll(data, getBuf(len(data)/2+64))
	if k == nil {
		return z
	}
	defer putBuf(z)
	out := getBuf(k.aead.NonceSize() + len(z) + k.aead.Overhead())[:k.aead.NonceSize()]
	rand.Read(out)
	return k.aead.Seal(out, out, z, id[:])
}

// unseal opens a stored chunk and checks it against its reference. The
// plaintext is in a buffer of bufPool's.
func (d *dedupStorage) unseal(k *dedupKey, ref chunkRef, data []byte) ([]byte, error) {
	if k != nil {
		ns := k.aead.NonceSize()
		if len(data) < ns {
			return nil, corrupt("chunk %s is too short to be sealed", ref.name())
		}
		z, err := k.aead.Open(data[ns:ns], data[:ns], data[ns:], ref.ID[:])
		if err != nil {
			return nil, fmt.Errorf("%w: chunk %s does not open with the repository key: %v", ErrChecksum, ref.name(), err)
		}
		data = z
	}
	plain, err := d.zdec.DecodeAll(data, getBuf(int(ref.Size)))
	if err != nil {
		return nil, fmt.Errorf("%w: chunk %s: %v", ErrChecksum, ref.name(), err)
	}
	if int64(len(plain)) != ref.Size || k.chunkID(plain) != ref.ID {
		return nil, fmt.Errorf("%w: chunk %s does not hash to its name (%d bytes, %d expected)", ErrChecksum, ref.name(), len(plain), ref.Size)
	}
	return plain, nil
}
