package qdrantexp

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// The gRPC API has no snapshot download or upload: those go over REST
// (https://api.qdrant.tech/api-reference/snapshots). Neither request has an
// overall timeout, since a snapshot can be many GiB: a watchdog fails the
// transfer when no byte moves for Timeouts.Stall, and bounds the server's
// work after the last byte by Timeouts.Snapshot.

// watchdog cancels a request when its timer runs out; every byte that moves
// re-arms it.
type watchdog struct {
	mu     sync.Mutex
	timer  *time.Timer
	cancel context.CancelCauseFunc
}

func newWatchdog(ctx context.Context, first time.Duration, what string) (context.Context, *watchdog) {
	ctx, cancel := context.WithCancelCause(ctx)
	w := &watchdog{cancel: cancel}
	w.timer = time.AfterFunc(first, func() {
		cancel(fmt.Errorf("%s: %w after %v without progress", what, context.DeadlineExceeded, first))
	})
	return ctx, w
}

// arm restarts the timer with a new duration and cause.
func (w *watchdog) arm(d time.Duration, cause string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
	w.timer = time.AfterFunc(d, func() {
		w.cancel(fmt.Errorf("%s: %w after %v", cause, context.DeadlineExceeded, d))
	})
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.timer.Stop()
	w.cancel(nil)
}

// progressReader re-arms the watchdog on every read, and calls atEOF once
// when its reader is done.
type progressReader struct {
	r     io.Reader
	w     *watchdog
	stall time.Duration
	what  string
	atEOF func()
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.w.arm(p.stall, p.what+": stalled")
	}
	if err == io.EOF && p.atEOF != nil {
		p.atEOF()
		p.atEOF = nil
	}
	return n, err
}

func (e *Exporter) restURL(path string, query url.Values) string {
	u := e.base.JoinPath(path)
	u.RawQuery = query.Encode()
	return u.String()
}

func (e *Exporter) newRequest(ctx context.Context, method, u string, body io.Reader) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if e.cfg.APIKey != "" {
		req.Header.Set("api-key", e.cfg.APIKey)
	}
	return req, nil
}

// restError reads Qdrant's error envelope {"status": {"error": "..."}} into
// an error that names the request and the status.
func restError(req *http.Request, resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var env struct {
		Status struct {
			Error string `json:"error"`
		} `json:"status"`
	}
	msg := string(bytes.TrimSpace(body))
	if json.Unmarshal(body, &env) == nil && env.Status.Error != "" {
		msg = env.Status.Error
	}
	err := fmt.Errorf("qdrantexp: %s %s: %s: %s", req.Method, req.URL.Path, resp.Status, msg)
	if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
		err = fmt.Errorf("%w (is the API key right? Config.APIKey)", err)
	}
	return err
}

// download streams a snapshot into fn, which writes exactly the size the
// server's description gives and checks its SHA-256.
func (e *Exporter) download(ctx context.Context, coll string, snap snapshotRecord, fn func(io.Reader) error) error {
	u := e.restURL("collections/"+url.PathEscape(coll)+"/snapshots/"+url.PathEscape(snap.Name), nil)
	ctx, wd := newWatchdog(ctx, e.opts.Timeouts.Call, "qdrantexp: snapshot download: waiting for the response")
	defer wd.stop()
	req, err := e.newRequest(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	// Qdrant compresses any response whose client accepts gzip (actix's
	// Compress middleware, src/actix/mod.rs), and Go's transport asks for
	// gzip unless told otherwise: the server then spends its CPU deflating
	// vectors that hardly compress, and the download has no length. The
	// archive compresses the snapshot anyway.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := e.http.Do(req)
	if err != nil {
		return transferError(ctx, "downloading snapshot "+snap.Name, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return restError(req, resp)
	}
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && ce != "identity" {
		return fmt.Errorf("qdrantexp: downloading snapshot %s: the server answered with Content-Encoding %q although asked for identity", snap.Name, ce)
	}
	wd.arm(e.opts.Timeouts.Stall, "qdrantexp: snapshot download stalled")
	body := &progressReader{r: resp.Body, w: wd, stall: e.opts.Timeouts.Stall, what: "qdrantexp: snapshot download"}
	if err := fn(body); err != nil {
		return transferError(ctx, "downloading snapshot "+snap.Name, err)
	}
	return nil
}

// transferError says why a transfer stopped: the caller's cancellation,
// the watchdog's timeout, or the error itself.
func transferError(ctx context.Context, what string, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		return fmt.Errorf("qdrantexp: %s: %w (%v)", what, cause, err)
	}
	return fmt.Errorf("qdrantexp: %s: %w", what, err)
}

// upload recovers a collection from a snapshot with a streamed multipart
// request, under the file name given; Qdrant keeps the uploaded file in the
// collection's snapshot list (do_save_uploaded_snapshot in
// src/actix/api/snapshot_api.rs), so the caller deletes it afterwards. The body's length is known (the multipart framing around the
// file), so it is sent with a Content-Length rather than chunked.
// priority=snapshot makes the snapshot's data win; the default, replica,
// silently keeps an empty collection when the node has none (qdrant#10368).
//
// The request carries no checksum for the server to check: Qdrant 1.19
// hashes an upload at a few tens of MB/s (a 256 MiB snapshot took 7.5 s
// longer to restore with it: BenchmarkSnapshot), and the check adds
// nothing to the archive's own. r fails instead of ending when the bytes
// read do not match the SHA-256 the archive records, and the multipart
// body's end follows only a clean end of r, so a snapshot that is not the
// one verified never arrives as a complete request (TestUploadWithheldOnMismatch).
func (e *Exporter) upload(ctx context.Context, coll, file string, size int64, r io.Reader) error {
	var framing bytes.Buffer
	mw := multipart.NewWriter(&framing)
	if _, err := mw.CreateFormFile("snapshot", file); err != nil {
		return err
	}
	head := bytes.Clone(framing.Bytes())
	framing.Reset()
	if err := mw.Close(); err != nil {
		return err
	}
	tail := framing.Bytes()

	q := url.Values{"wait": {"true"}, "priority": {"snapshot"}}
	u := e.restURL("collections/"+url.PathEscape(coll)+"/snapshots/upload", q)
	ctx, wd := newWatchdog(ctx, e.opts.Timeouts.Stall, "qdrantexp: snapshot upload")
	defer wd.stop()
	body := &progressReader{
		r: io.MultiReader(bytes.NewReader(head), r, bytes.NewReader(tail)), w: wd, stall: e.opts.Timeouts.Stall,
		what: "qdrantexp: snapshot upload",
		atEOF: func() {
			wd.arm(e.opts.Timeouts.Snapshot, "qdrantexp: snapshot upload: waiting for the server to recover the collection")
		},
	}
	req, err := e.newRequest(ctx, http.MethodPost, u, body)
	if err != nil {
		return err
	}
	req.ContentLength = int64(len(head)) + size + int64(len(tail))
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := e.http.Do(req)
	if err != nil {
		return transferError(ctx, "uploading snapshot of "+coll, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return restError(req, resp)
	}
	_, err = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return err
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return hex.EncodeToString(b)
}

// restSnapshot is a snapshot's description as REST lists it.
type restSnapshot struct {
	Name         string `json:"name"`
	CreationTime string `json:"creation_time"`
}

// listSnapshotsREST lists a collection's snapshots, and returns the
// server's clock from the answer's Date header (zero when it has none).
func (e *Exporter) listSnapshotsREST(ctx context.Context, coll string) ([]restSnapshot, time.Time, error) {
	var out struct {
		Result []restSnapshot `json:"result"`
	}
	var now time.Time
	err := e.call(ctx, "listing snapshots of "+coll, func(ctx context.Context) error {
		req, err := e.newRequest(ctx, http.MethodGet, e.restURL("collections/"+url.PathEscape(coll)+"/snapshots", nil), nil)
		if err != nil {
			return err
		}
		resp, err := e.http.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return restError(req, resp)
		}
		if d, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
			now = d.UTC()
		}
		if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<20)).Decode(&out); err != nil {
			return fmt.Errorf("qdrantexp: GET %s: %w", req.URL.Path, err)
		}
		return nil
	})
	return out.Result, now, err
}
