package qdrantemu

import (
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"github.com/qdrant/go-client/qdrant"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// restHandler serves the REST endpoints of snapshots
// (https://api.qdrant.tech/api-reference/snapshots) and the root with the
// version. Answers have Qdrant's envelope: {"result", "status": "ok",
// "time"} or {"status": {"error": message}, "time"}.
func (s *Server) restHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"title": "qdrant - vector search engine (ngbak emulator)", "version": s.opts.Version})
	})
	mux.HandleFunc("GET /collections/{c}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		ds, err := s.listSnapshots(r.PathValue("c"))
		if err != nil {
			writeError(w, err)
			return
		}
		out := []map[string]any{}
		for _, d := range ds {
			out = append(out, restDescription(d))
		}
		writeResult(w, out)
	})
	mux.HandleFunc("POST /collections/{c}/snapshots", func(w http.ResponseWriter, r *http.Request) {
		d, err := s.createSnapshot(r.PathValue("c"))
		if err != nil {
			writeError(w, err)
			return
		}
		writeResult(w, restDescription(d))
	})
	// Download streams the file with its Content-Length and answers Range
	// requests (http.ServeContent), as Qdrant's actix-files handler does.
	mux.HandleFunc("GET /collections/{c}/snapshots/{name}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.snapshotPath(r.PathValue("c"), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		f, err := os.Open(p)
		if err != nil {
			writeError(w, err)
			return
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			writeError(w, err)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, fi.Name(), fi.ModTime(), f)
	})
	mux.HandleFunc("DELETE /collections/{c}/snapshots/{name}", func(w http.ResponseWriter, r *http.Request) {
		p, err := s.snapshotPath(r.PathValue("c"), r.PathValue("name"))
		if err != nil {
			writeError(w, err)
			return
		}
		if err := os.Remove(p); err != nil {
			writeError(w, err)
			return
		}
		writeResult(w, true)
	})
	mux.HandleFunc("POST /collections/{c}/snapshots/upload", s.upload)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("api-key")
		if key == "" {
			key, _ = strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		}
		if !s.authorized(key) {
			writeJSON(w, http.StatusUnauthorized, map[string]any{"status": map[string]string{"error": "Must provide an API key or an Authorization bearer token"}, "time": 0})
			return
		}
		// Qdrant compresses every answer for a client that accepts gzip
		// (actix's Compress middleware, src/actix/mod.rs), snapshot
		// downloads included, which then have no Content-Length.
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			gw := &gzipWriter{ResponseWriter: w}
			defer gw.close()
			w = gw
		}
		mux.ServeHTTP(w, r)
	})
}

func acceptsGzip(header string) bool {
	for _, enc := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(enc), ";")
		if strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.ReplaceAll(params, " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// gzipWriter compresses the body of the answer.
type gzipWriter struct {
	http.ResponseWriter
	gz *gzip.Writer
}

func (g *gzipWriter) WriteHeader(code int) {
	if g.gz == nil {
		h := g.Header()
		h.Del("Content-Length")
		h.Set("Content-Encoding", "gzip")
		h.Add("Vary", "Accept-Encoding")
		g.gz = gzip.NewWriter(g.ResponseWriter)
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *gzipWriter) Write(p []byte) (int, error) {
	if g.gz == nil {
		g.WriteHeader(http.StatusOK)
	}
	return g.gz.Write(p)
}

func (g *gzipWriter) close() {
	if g.gz != nil {
		g.gz.Close()
	}
}

// upload recovers a collection from a snapshot sent as multipart/form-data
// in the field `snapshot`, checking the optional `checksum` (SHA-256 hex)
// before anything changes
// (https://api.qdrant.tech/api-reference/snapshots/recover-from-uploaded-snapshot).
// The part is streamed to a temporary file, never held in memory.
func (s *Server) upload(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("c")
	q := r.URL.Query()
	mr, err := r.MultipartReader()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("Invalid multipart request: "+err.Error()))
		return
	}
	var tmp *os.File
	var file string
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("Invalid multipart request: "+err.Error()))
			return
		}
		if part.FormName() != "snapshot" || tmp != nil {
			part.Close()
			continue
		}
		file = filepath.Base(part.FileName())
		tmp, err = os.CreateTemp(s.dir, "upload-*")
		if err != nil {
			writeError(w, err)
			return
		}
		if _, err := io.Copy(io.MultiWriter(tmp, h), part); err != nil {
			writeJSON(w, http.StatusBadRequest, errBody("Reading the snapshot: "+err.Error()))
			return
		}
	}
	if tmp == nil {
		writeJSON(w, http.StatusBadRequest, errBody("Bad request: field `snapshot` is missing"))
		return
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want := q.Get("checksum"); want != "" && !strings.EqualFold(want, got) {
		writeJSON(w, http.StatusBadRequest, errBody(fmt.Sprintf("Bad request: Snapshot checksum mismatch: expected %s, got %s", want, got)))
		return
	}
	// Qdrant keeps the upload in the collection's snapshot list, under the
	// part's file name, before it recovers from it
	// (do_save_uploaded_snapshot in src/actix/api/snapshot_api.rs).
	if err := validName(name); err != nil {
		writeError(w, err)
		return
	}
	if file == "" || file == "." || file == "/" {
		file = fmt.Sprintf("%016x", rand.Uint64())
	}
	if err := os.MkdirAll(s.snapshotDir(name), 0o755); err != nil {
		writeError(w, err)
		return
	}
	kept := filepath.Join(s.snapshotDir(name), file)
	if err := os.Rename(tmp.Name(), kept); err != nil {
		writeError(w, err)
		return
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		writeError(w, err)
		return
	}
	snap, err := readSnapshot(tmp)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errBody("Bad request: "+err.Error()))
		return
	}
	if err := s.recover(name, q.Get("priority"), snap); err != nil {
		writeError(w, err)
		return
	}
	writeResult(w, true)
}

func restDescription(d *qdrant.SnapshotDescription) map[string]any {
	return map[string]any{
		"name":          d.Name,
		"creation_time": d.CreationTime.AsTime().Format("2006-01-02T15:04:05"),
		"size":          d.Size,
		"checksum":      d.GetChecksum(),
	}
}

func errBody(msg string) map[string]any {
	return map[string]any{"status": map[string]string{"error": msg}, "time": 0}
}

func writeResult(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, map[string]any{"result": result, "status": "ok", "time": 0})
}

func writeError(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch status.Code(err) {
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.InvalidArgument, codes.AlreadyExists:
		code = http.StatusBadRequest
	}
	msg := err.Error()
	if st, ok := status.FromError(err); ok {
		msg = st.Message()
	}
	writeJSON(w, code, errBody(msg))
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// Faults sits in front of any Qdrant REST endpoint, the emulator's or a real
// server's, and fails on purpose, so that the same failure tests run against
// both. The zero values pass everything through.
type Faults struct {
	// CutDownloadAfter, when positive, aborts snapshot downloads after that
	// many bytes of the body, as a dropped connection would.
	CutDownloadAfter atomic.Int64
	// CorruptDownload flips one bit of every snapshot download's body.
	CorruptDownload atomic.Bool
	// StallDownload makes snapshot downloads send their headers and then
	// nothing, until the client gives up.
	StallDownload atomic.Bool
	// RefuseUpload makes snapshot uploads fail with 500 after part of the
	// body has been read, before the server sees it.
	RefuseUpload atomic.Bool
	proxy        *httputil.ReverseProxy
}

// NewFaults returns a Faults proxy to the REST base URL target.
func NewFaults(target string) (*Faults, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	f := &Faults{proxy: httputil.NewSingleHostReverseProxy(u)}
	f.proxy.FlushInterval = -1 // stream, never buffer a snapshot
	return f, nil
}

func (f *Faults) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	isSnapshot := strings.HasPrefix(r.URL.Path, "/collections/") && strings.Contains(r.URL.Path, "/snapshots/")
	switch {
	case r.Method == http.MethodPost && isSnapshot && strings.HasSuffix(r.URL.Path, "/snapshots/upload") && f.RefuseUpload.Load():
		io.CopyN(io.Discard, r.Body, 64<<10)
		writeJSON(w, http.StatusInternalServerError, errBody("Service internal error: refused on purpose (qdrantemu.Faults)"))
		return
	case r.Method == http.MethodGet && isSnapshot && f.CorruptDownload.Load():
		w = &corruptWriter{ResponseWriter: w}
	case r.Method == http.MethodGet && isSnapshot && f.StallDownload.Load():
		w = &stallWriter{ResponseWriter: w, done: r.Context().Done()}
	case r.Method == http.MethodGet && isSnapshot && f.CutDownloadAfter.Load() > 0:
		w = &cutWriter{ResponseWriter: w, left: f.CutDownloadAfter.Load()}
	}
	f.proxy.ServeHTTP(w, r)
}

// cutWriter aborts the response once its budget is spent; the client sees
// the connection close before Content-Length bytes arrived.
type cutWriter struct {
	http.ResponseWriter
	left int64
}

func (c *cutWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > c.left {
		c.ResponseWriter.Write(p[:c.left])
		c.left = 0
		if fl, ok := c.ResponseWriter.(http.Flusher); ok {
			fl.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	c.left -= int64(len(p))
	return c.ResponseWriter.Write(p)
}

// stallWriter sends the headers, then blocks until the client goes away.
type stallWriter struct {
	http.ResponseWriter
	done <-chan struct{}
}

func (s *stallWriter) Write(p []byte) (int, error) {
	if fl, ok := s.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	<-s.done
	panic(http.ErrAbortHandler)
}

// corruptWriter flips the lowest bit of the first byte it writes.
type corruptWriter struct {
	http.ResponseWriter
	done bool
}

func (c *corruptWriter) Write(p []byte) (int, error) {
	if !c.done && len(p) > 0 {
		c.done = true
		q := append([]byte(nil), p...)
		q[0] ^= 1
		return c.ResponseWriter.Write(q)
	}
	return c.ResponseWriter.Write(p)
}
