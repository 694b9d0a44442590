package qdrantexp_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ngbak/ngbak"
	"github.com/ngbak/ngbak/internal/heap"
	"github.com/ngbak/ngbak/internal/qdrantemu"
	"github.com/ngbak/ngbak/qdrantexp"
	"github.com/qdrant/go-client/qdrant"
)

// The benchmarks run the emulator in a child process (this test binary,
// started again), so that the heap they measure is ngbak's alone; or they
// use the real Qdrant of NGBAK_QDRANT_URL and NGBAK_QDRANT_GRPC. Side by
// side, in one run:
//
//	BenchmarkSnapshot/64MiB/Create   Manager.Create in snapshot mode, in turns with the plain copy:
//	                                 create a snapshot, GET it into a file, fsync, delete it
//	BenchmarkSnapshot/64MiB/Verify   Manager.Verify, the first pass of a restore
//	BenchmarkSnapshot/64MiB/Restore  Manager.Restore (it verifies the archive first), in turns with
//	                                 the plain upload: POST the snapshot file as multipart with priority=snapshot
//	... and the same at 256MiB, to show the heap does not grow with the snapshot
//	BenchmarkLogical/Export, /Restore     100k points of 768 dimensions with payloads
//
// Each reports MB/s or points/s and the peak heap (peak-MiB); Create and
// Restore also the medians of both sides in seconds (ngbak-s, plain-s) and
// the median ratio of the turns (x-plain).
// NGBAK_BENCH_LEVEL sets the Manager's compression level (default 3).

const childEnv = "NGBAK_QDRANTEMU_CHILD"

// TestMain serves the emulator when started as the benchmark's child; it
// exits when its stdin closes, so it never outlives the parent.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		emu, err := qdrantemu.Start(qdrantemu.Options{APIKey: os.Getenv(childEnv), Dir: os.Getenv(childEnv + "_DIR")})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Println(emu.URL, emu.GRPCAddr)
		io.Copy(io.Discard, os.Stdin)
		emu.Close()
		os.Exit(0)
	}
	announceServer()
	os.Exit(m.Run())
}

var bench struct {
	once  sync.Once
	tg    *target
	err   error
	stdin io.WriteCloser // the child's; it exits when this closes
}

// benchTarget is shared by all benchmarks of a run: the child emulator or
// the real server.
func benchTarget(b *testing.B) *target {
	bench.once.Do(func() {
		if url, grpcAddr := server("NGBAK_QDRANT_URL", "NGBAK_QDRANT_GRPC"); url != "" {
			bench.tg = newTarget(persistent{})
			// Straight to the server: the plain copies and ngbak alike.
			bench.tg.cfg = qdrantexp.Config{URL: url, GRPC: grpcAddr, APIKey: os.Getenv("NGBAK_QDRANT_API_KEY")}
			return
		}
		key := "bench-" + randomHex(4)
		dir, err := os.MkdirTemp("", "qdrantemu-bench-")
		if err != nil {
			bench.err = err
			return
		}
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+key, childEnv+"_DIR="+dir)
		cmd.Stderr = os.Stderr
		bench.stdin, _ = cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			bench.err = err
			return
		}
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err != nil {
			bench.err = fmt.Errorf("emulator child: %w", err)
			return
		}
		url, grpcAddr, _ := strings.Cut(strings.TrimSpace(line), " ")
		os.Setenv("NGBAK_QDRANT_URL", url)
		os.Setenv("NGBAK_QDRANT_GRPC", grpcAddr)
		os.Setenv("NGBAK_QDRANT_API_KEY", key)
		bench.tg = newTarget(persistent{})
		bench.tg.cfg = qdrantexp.Config{URL: url, GRPC: grpcAddr, APIKey: key}
		go func() { // the child ends with the test binary
			cmd.Wait()
			os.RemoveAll(dir)
		}()
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.tg
}

// persistent is a tb whose cleanups never run: the shared target lives as
// long as the benchmark binary.
type persistent struct{}

func (persistent) Helper()                        {}
func (persistent) Cleanup(func())                 {}
func (persistent) Fatal(args ...any)              { panic(fmt.Sprint(args...)) }
func (persistent) Fatalf(format string, a ...any) { panic(fmt.Sprintf(format, a...)) }
func (persistent) TempDir() string {
	d, _ := os.MkdirTemp("", "ngbak-bench-")
	return d
}

// fillVectors upserts n points of dim float32s with a payload of about
// 200 bytes, as a GraphRAG chunk store holds.
func fillVectors(b *testing.B, tg *target, coll string, n, dim int) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(uint64(n), uint64(dim)))
	wait := true
	for start := 0; start < n; start += 500 {
		var points []*qdrant.PointStruct
		for i := start; i < min(n, start+500); i++ {
			v := make([]float32, dim)
			for j := range v {
				v[j] = rng.Float32()*2 - 1
			}
			points = append(points, &qdrant.PointStruct{
				Id:      qdrant.NewIDNum(uint64(i)),
				Vectors: qdrant.NewVectorsDense(v),
				Payload: qdrant.NewValueMap(map[string]any{
					"content":     strings.Repeat(fmt.Sprintf("chunk %d of the corpus ", i), 6),
					"full_doc_id": fmt.Sprintf("doc-%d", i/10), "tokens": int64(rng.IntN(1200)),
				}),
			})
		}
		if _, err := tg.client.Upsert(ctx, &qdrant.UpsertPoints{CollectionName: coll, Wait: &wait, Points: points}); err != nil {
			b.Fatal(err)
		}
	}
}

func vectorCollection(b *testing.B, tg *target, dim int) string {
	name := "ngbak_bench_" + randomHex(6)
	err := tg.client.CreateCollection(context.Background(), &qdrant.CreateCollection{CollectionName: name,
		VectorsConfig: qdrant.NewVectorsConfig(&qdrant.VectorParams{Size: uint64(dim), Distance: qdrant.Distance_Dot})})
	if err != nil {
		b.Fatal(err)
	}
	return name
}

// benchManager's compression level is NGBAK_BENCH_LEVEL, default 3 (the
// Manager's own default).
func benchManager(b *testing.B, e ngbak.Exporter) *ngbak.Manager {
	dir := b.TempDir()
	level, _ := strconv.Atoi(os.Getenv("NGBAK_BENCH_LEVEL"))
	m, err := ngbak.New(ngbak.Options{Storage: ngbak.Dir(filepath.Join(dir, "backups")), TempDir: dir, CompressionLevel: level})
	if err != nil {
		b.Fatal(err)
	}
	if err := m.Register(e); err != nil {
		b.Fatal(err)
	}
	return m
}

func BenchmarkSnapshot(b *testing.B) {
	tg := benchTarget(b)
	for _, mib := range []int{64, 256} {
		b.Run(fmt.Sprintf("%dMiB", mib), func(b *testing.B) { benchSnapshot(b, tg, mib) })
	}
}

// benchSnapshot fills a collection of about mib MiB and runs the plain
// copies and ngbak side by side on it.
func benchSnapshot(b *testing.B, tg *target, mib int) {
	{
		const dim = 768
		points := mib << 20 / (dim*4 + 300)
		coll := vectorCollection(b, tg, dim)
		fillVectors(b, tg, coll, points, dim)
		// A collection at rest, as one is between an application's
		// updates: a snapshot made while the optimizers still rewrite its
		// segments takes the server several times longer to recover.
		for {
			info, err := tg.client.GetCollectionInfo(context.Background(), coll)
			if err != nil {
				b.Fatal(err)
			}
			if info.GetStatus() == qdrant.CollectionStatus_Green {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		ctx := context.Background()
		e, err := qdrantexp.New(tg.cfg, qdrantexp.Options{Collections: []string{coll}})
		if err != nil {
			b.Fatal(err)
		}
		m := benchManager(b, e)
		man, err := m.Create(ctx, nil)
		if err != nil {
			b.Fatal(err)
		}
		size := man.Backends[0].Files[0].Size
		// The plain upload sends the very snapshot the archive holds: a
		// snapshot made while the optimizers still work on the collection
		// takes the server longer to recover than one made later.
		snapFile := filepath.Join(b.TempDir(), "plain.snapshot")
		if err := os.WriteFile(snapFile, archivedFile(b, m, man.ID, coll+"/collection.snapshot"), 0o644); err != nil {
			b.Fatal(err)
		}

		// Each iteration runs the plain copy and ngbak one right after the
		// other, so that both meet the same load; the ratio reported is
		// the median of the iterations' ratios.
		b.Run("Create", func(b *testing.B) {
			var peak uint64
			var st sideBySide
			for b.Loop() {
				st.plain(func() { plainDownload(b, tg, coll, filepath.Join(b.TempDir(), "copy.snapshot")) })
				st.ngbak(func() {
					peak = max(peak, heap.Peak(func() {
						man, err := m.Create(ctx, nil)
						if err != nil {
							b.Fatal(err)
						}
						b.StopTimer()
						m.Delete(ctx, man.ID)
						b.StartTimer()
					}))
				})
			}
			st.report(b, size)
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
		// Restore verifies the whole archive before it touches the server
		// (guarantee 1); this is that first pass alone.
		b.Run("Verify", func(b *testing.B) {
			for b.Loop() {
				if err := m.Verify(ctx, man.ID); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size)/1e6*float64(b.N)/b.Elapsed().Seconds(), "MB/s")
		})
		b.Run("Restore", func(b *testing.B) {
			var peak uint64
			var st sideBySide
			for b.Loop() {
				st.plain(func() { plainUpload(b, tg, coll, snapFile) })
				st.ngbak(func() {
					peak = max(peak, heap.Peak(func() {
						if _, err := m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
							b.Fatal(err)
						}
					}))
				})
			}
			st.report(b, size)
			b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
		})
		e.Close()
		tg.client.DeleteCollection(ctx, coll)
	}
}

// sideBySide times a plain copy and ngbak's operation in turns.
type sideBySide struct{ plainTimes, ngbakTimes []time.Duration }

func (s *sideBySide) plain(fn func()) { s.plainTimes = append(s.plainTimes, timed(fn)) }
func (s *sideBySide) ngbak(fn func()) { s.ngbakTimes = append(s.ngbakTimes, timed(fn)) }

func timed(fn func()) time.Duration {
	start := time.Now()
	fn()
	return time.Since(start)
}

// report gives ngbak's MB/s, the medians of both in seconds and the median
// of the ratios of each turn.
func (s *sideBySide) report(b *testing.B, size int64) {
	var ratios []float64
	for i := range s.ngbakTimes {
		ratios = append(ratios, s.ngbakTimes[i].Seconds()/s.plainTimes[i].Seconds())
	}
	b.ReportMetric(float64(size)/1e6/median(s.ngbakTimes).Seconds(), "MB/s")
	b.ReportMetric(median(s.ngbakTimes).Seconds(), "ngbak-s")
	b.ReportMetric(median(s.plainTimes).Seconds(), "plain-s")
	b.ReportMetric(medianOf(ratios), "x-plain")
	b.ReportMetric(float64(median(s.ngbakTimes).Nanoseconds()), "ns/op")
}

func median(d []time.Duration) time.Duration {
	d = slices.Clone(d)
	slices.Sort(d)
	return d[len(d)/2]
}

func medianOf(f []float64) float64 {
	f = slices.Clone(f)
	slices.Sort(f)
	return f[len(f)/2]
}

// plainDownload is the baseline: what any client does to copy a snapshot
// to disk, through the same HTTP client and proxy as ngbak.
func plainDownload(b *testing.B, tg *target, coll, path string) {
	ctx := context.Background()
	desc, err := tg.client.CreateSnapshot(ctx, coll)
	if err != nil {
		b.Fatal(err)
	}
	defer tg.client.DeleteSnapshot(ctx, coll, desc.Name)
	req, _ := http.NewRequest("GET", tg.cfg.URL+"/collections/"+coll+"/snapshots/"+desc.Name, nil)
	req.Header.Set("api-key", tg.cfg.APIKey)
	// As curl or wget does: no compression asked for.
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("plain download: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if _, err := io.Copy(f, resp.Body); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

func plainUpload(b *testing.B, tg *target, coll, path string) {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	var head bytes.Buffer
	mw := multipart.NewWriter(&head)
	mw.CreateFormFile("snapshot", "plain.snapshot")
	h := bytes.Clone(head.Bytes())
	head.Reset()
	mw.Close()
	req, _ := http.NewRequest("POST", tg.cfg.URL+"/collections/"+coll+"/snapshots/upload?wait=true&priority=snapshot",
		io.MultiReader(bytes.NewReader(h), f, bytes.NewReader(head.Bytes())))
	req.ContentLength = int64(len(h)) + fi.Size() + int64(head.Len())
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("api-key", tg.cfg.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		b.Fatalf("plain upload: %s", resp.Status)
	}
}

func BenchmarkLogical(b *testing.B) {
	tg := benchTarget(b)
	const dim, points = 768, 100_000
	coll := vectorCollection(b, tg, dim)
	fillVectors(b, tg, coll, points, dim)
	ctx := context.Background()
	defer tg.client.DeleteCollection(ctx, coll)
	e, err := qdrantexp.New(tg.cfg, qdrantexp.Options{Collections: []string{coll}, Mode: qdrantexp.Logical})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	m := benchManager(b, e)
	var id string
	b.Run("Export", func(b *testing.B) {
		var peak uint64
		for b.Loop() {
			peak = max(peak, heap.Peak(func() {
				man, err := m.Create(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				if id != "" {
					m.Delete(ctx, id)
				}
				id = man.ID
			}))
		}
		b.ReportMetric(float64(points*b.N)/b.Elapsed().Seconds(), "points/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	})
	b.Run("Restore", func(b *testing.B) {
		var peak uint64
		for b.Loop() {
			peak = max(peak, heap.Peak(func() {
				if _, err := m.Restore(ctx, id, &ngbak.RestoreOptions{NoSafetyBackup: true}); err != nil {
					b.Fatal(err)
				}
			}))
		}
		b.ReportMetric(float64(points*b.N)/b.Elapsed().Seconds(), "points/s")
		b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	})
}
