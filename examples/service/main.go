// Service is a small GraphRAG-shaped service that keeps its data in JSON
// stores (as nano-graphrag's file storage does) and mounts ngbak's backup
// API and dashboard under /admin/backups/, behind a bearer token:
//
//	go run ./examples/service [-addr 127.0.0.1:8080] [-data ./service-data]
//
// It prints the dashboard's URL, with the token in the fragment (which
// browsers never send to the server). The token comes from NGBAK_TOKEN or
// is made up at start. Its own API: GET /docs lists the documents, POST
// /docs with {"id": ..., "content": ...} adds one.
package main

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/jsonexp"
	"github.com/ngbak/ngbak/ngbakhttp"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen on this address")
	data := flag.String("data", "service-data", "the folder of the service's stores and backups")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	token := os.Getenv("NGBAK_TOKEN")
	if token == "" {
		b := make([]byte, 16)
		rand.Read(b)
		token = hex.EncodeToString(b)
	}
	if err := run(ctx, *addr, *data, token, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "service:", err)
		os.Exit(1)
	}
}

// run serves until ctx ends.
func run(ctx context.Context, addr, data, token string, out io.Writer) error {
	work := filepath.Join(data, "workdir")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	docs := &docStore{path: filepath.Join(work, "kv_store_full_docs.json")}
	if err := docs.init(); err != nil {
		return err
	}
	m, err := ngbak.New(ngbak.Options{
		Storage:   ngbak.Dir(filepath.Join(data, "backups")),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		App:       &ngbak.App{Name: "example-service", Version: "1"},
		AppConfig: map[string]string{"working_dir": work, "api_token": token}, // the token is redacted
	})
	if err != nil {
		return err
	}
	files, err := jsonexp.New(jsonexp.Options{Dir: work})
	if err != nil {
		return err
	}
	if err := m.Register(files); err != nil {
		return err
	}
	backups, err := ngbakhttp.New(m, ngbakhttp.Options{Authorize: bearer(token)})
	if err != nil {
		return err
	}
	defer backups.Close()

	mux := http.NewServeMux()
	mux.Handle("/admin/backups/", http.StripPrefix("/admin/backups", backups))
	mux.HandleFunc("GET /docs", docs.list)
	mux.HandleFunc("POST /docs", docs.add)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(out, "dashboard: http://%s/admin/backups/#token=%s\n", ln.Addr(), token)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// bearer authorizes requests that carry the token.
func bearer(token string) func(*http.Request) error {
	return func(r *http.Request) error {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok {
			return ngbakhttp.ErrUnauthenticated
		}
		if subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
			return ngbakhttp.ErrForbidden
		}
		return nil
	}
}

// docStore is the service's document store: one JSON object in a file, as
// nano-graphrag's JsonKVStorage keeps it.
type docStore struct {
	mu   sync.Mutex
	path string
}

func (s *docStore) init() error {
	if _, err := os.Stat(s.path); errors.Is(err, os.ErrNotExist) {
		return os.WriteFile(s.path, []byte(`{"doc-1": {"content": "GraphRAG builds a knowledge graph from text."}}`), 0o644)
	}
	return nil
}

func (s *docStore) read() (map[string]json.RawMessage, error) {
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, err
	}
	docs := map[string]json.RawMessage{}
	return docs, json.Unmarshal(b, &docs)
}

func (s *docStore) list(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	docs, err := s.read()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(docs)
}

func (s *docStore) add(w http.ResponseWriter, r *http.Request) {
	var req struct{ ID, Content string }
	if err := json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(&req); err != nil || req.ID == "" {
		http.Error(w, "want {\"id\": ..., \"content\": ...}", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	docs, err := s.read()
	if err == nil {
		docs[req.ID], _ = json.Marshal(map[string]string{"content": req.Content})
		var b []byte
		if b, err = json.MarshalIndent(docs, "", "  "); err == nil {
			tmp := s.path + ".tmp"
			if err = os.WriteFile(tmp, b, 0o644); err == nil {
				err = os.Rename(tmp, s.path)
			}
		}
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusCreated)
}
