package ngbak_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/ngbak/ngbak"
)

// ctxProbe is a memExporter that keeps the span context its Export saw.
type ctxProbe struct {
	*memExporter
	seen trace.SpanContext
}

func (p *ctxProbe) Export(ctx context.Context, w *ngbak.Writer) (ngbak.Info, error) {
	p.seen = trace.SpanContextFromContext(ctx)
	return p.memExporter.Export(ctx, w)
}

type otelEnv struct {
	*testEnv
	spans   *tracetest.SpanRecorder
	metrics *sdkmetric.ManualReader
	skip    int // spans tree leaves out, recorded earlier
}

func newOtelEnv(t *testing.T, parallelism int, exps ...ngbak.Exporter) *otelEnv {
	sr := tracetest.NewSpanRecorder()
	rd := sdkmetric.NewManualReader()
	env := newEnv(t, ngbak.Options{
		Parallelism:    parallelism,
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd)),
	}, exps...)
	return &otelEnv{testEnv: env, spans: sr, metrics: rd}
}

// span is an ended span as the tests compare it.
type span struct {
	Name, Parent, Backend, Op string
	Failed                    bool
}

// tree lists the ended spans, each with its parent's name, sorted.
func (e *otelEnv) tree(t *testing.T) []span {
	t.Helper()
	ended := e.spans.Ended()[e.skip:]
	byID := map[trace.SpanID]string{}
	for _, s := range ended {
		byID[s.SpanContext().SpanID()] = s.Name()
	}
	var out []span
	for _, s := range ended {
		sp := span{Name: s.Name(), Failed: s.Status().Code == codes.Error}
		if s.Parent().IsValid() {
			sp.Parent = byID[s.Parent().SpanID()]
			if sp.Parent == "" {
				t.Errorf("span %s has a parent that did not end", s.Name())
			}
		}
		for _, a := range s.Attributes() {
			switch a.Key {
			case "ngbak.backend":
				sp.Backend = a.Value.AsString()
			case "ngbak.op":
				sp.Op = a.Value.AsString()
			}
		}
		if sp.Failed && len(s.Events()) == 0 {
			t.Errorf("span %s failed without recording the error", s.Name())
		}
		out = append(out, sp)
	}
	sort.Slice(out, func(i, j int) bool { return fmt.Sprint(out[i]) < fmt.Sprint(out[j]) })
	return out
}

// points collects the metrics: name{attributes} -> value, where a
// histogram's value is its count.
func (e *otelEnv) points(t *testing.T) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := e.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	key := func(name string, set attribute.Set) string {
		var kv []string
		for _, a := range set.ToSlice() {
			kv = append(kv, string(a.Key)+"="+a.Value.String())
		}
		return name + "{" + strings.Join(kv, ",") + "}"
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Gauge[int64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = p.Value
				}
			case metricdata.Histogram[float64]:
				for _, p := range d.DataPoints {
					out[key(m.Name, p.Attributes)] = int64(p.Count)
				}
			default:
				t.Fatalf("metric %s is a %T", m.Name, m.Data)
			}
		}
	}
	return out
}

func payload(b *ngbak.Backend) int64 {
	var n int64
	for _, f := range b.Files {
		n += f.Size
	}
	return n
}

func TestTelemetryCreateVerifyRestore(t *testing.T) {
	for _, par := range []int{1, 0} { // the sequential and the parallel restore
		t.Run(fmt.Sprintf("parallelism=%d", par), func(t *testing.T) {
			kv := newMem("kv", map[string]string{"a": "1", "b": "2", "c": "3"})
			probe := &ctxProbe{memExporter: newMem("probe", map[string]string{"x": "y"})}
			env := newOtelEnv(t, par, kv, probe)
			ctx := context.Background()
			before := time.Now().Unix()
			man := env.create(t)

			if diff := cmp.Diff([]span{
				{Name: "ngbak.Create"},
				{Name: "ngbak.export", Parent: "ngbak.Create", Backend: "kv", Op: "create"},
				{Name: "ngbak.export", Parent: "ngbak.Create", Backend: "probe", Op: "create"},
			}, env.tree(t)); diff != "" {
				t.Errorf("spans after Create (-want +got):\n%s", diff)
			}
			// The exporter runs in its backend's span, so that its own
			// spans (a database driver's) nest below it.
			var exportSpan trace.SpanContext
			for _, s := range env.spans.Ended() {
				if s.Name() == "ngbak.export" && strings.Contains(fmt.Sprint(s.Attributes()), "probe") {
					exportSpan = s.SpanContext()
				}
				if want := attribute.String("ngbak.id", man.ID); s.Name() == "ngbak.Create" && !slices.Contains(s.Attributes(), want) {
					t.Errorf("Create's span has attributes %v, want %v", s.Attributes(), want)
				}
			}
			if !probe.seen.IsValid() || probe.seen.SpanID() != exportSpan.SpanID() {
				t.Errorf("Export ran in span %v, want its backend's span %v", probe.seen.SpanID(), exportSpan.SpanID())
			}

			got := env.points(t)
			last := got["ngbak.backup.last_success{}"]
			if last < before || last > time.Now().Unix() {
				t.Errorf("last_success = %d, want the time of the Create, %d or later", last, before)
			}
			delete(got, "ngbak.backup.last_success{}")
			kvB, _ := man.Backend("kv")
			probeB, _ := man.Backend("probe")
			if diff := cmp.Diff(map[string]int64{
				"ngbak.operation.duration{ngbak.op=create,ngbak.outcome=success}":                                               1,
				"ngbak.backend.bytes{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=create,ngbak.phase=export}":                       payload(kvB),
				"ngbak.backend.bytes{ngbak.backend=probe,ngbak.kind=mem,ngbak.op=create,ngbak.phase=export}":                    payload(probeB),
				"ngbak.backend.items{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=create,ngbak.phase=export,ngbak.stat=records}":    3,
				"ngbak.backend.items{ngbak.backend=probe,ngbak.kind=mem,ngbak.op=create,ngbak.phase=export,ngbak.stat=records}": 1,
			}, got); diff != "" {
				t.Errorf("metrics after Create (-want +got):\n%s", diff)
			}
			if payload(kvB) == 0 {
				t.Fatal("the kv backend wrote nothing")
			}

			// Into the next second, so that a Verify or Restore moving
			// last_success shows.
			time.Sleep(time.Until(time.Unix(last+1, 0)))
			if err := env.m.Verify(ctx, man.ID); err != nil {
				t.Fatal(err)
			}
			env.skip = len(env.spans.Ended())
			kv.restoreErr = errors.New("disk full")
			// Both backends, so that with parallelism 0 they restore at
			// once (the parallel path); probe may finish or be cancelled.
			_, err := env.m.Restore(ctx, man.ID, &ngbak.RestoreOptions{NoSafetyBackup: true})
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("Restore = %v, want the backend's error", err)
			}
			spans := slices.DeleteFunc(env.tree(t), func(s span) bool { return s.Backend == "probe" })
			if diff := cmp.Diff([]span{
				{Name: "ngbak.Restore", Failed: true},
				{Name: "ngbak.restore", Parent: "ngbak.Restore", Backend: "kv", Op: "restore", Failed: true},
			}, spans); diff != "" {
				t.Errorf("spans after a failed Restore (-want +got):\n%s", diff)
			}
			got = env.points(t)
			if got["ngbak.backup.last_success{}"] != last {
				t.Errorf("last_success moved from %d to %d without a Create", last, got["ngbak.backup.last_success{}"])
			}
			for k, want := range map[string]int64{
				"ngbak.operation.duration{ngbak.op=verify,ngbak.outcome=success}":  1,
				"ngbak.operation.duration{ngbak.op=restore,ngbak.outcome=failure}": 1,
				"ngbak.operation.failures{ngbak.op=restore}":                       1,
				"ngbak.operation.failures{ngbak.op=create}":                        0,
				// A backend that failed has restored nothing countable.
				"ngbak.backend.bytes{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=restore,ngbak.phase=restore}": 0,
			} {
				if got[k] != want {
					t.Errorf("%s = %d, want %d", k, got[k], want)
				}
			}

			kv.restoreErr = nil
			res, err := env.m.Restore(ctx, man.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			safety, err := env.m.Get(ctx, res.SafetyID)
			if err != nil {
				t.Fatal(err)
			}
			safetyKV, _ := safety.Manifest.Backend("kv")
			got = env.points(t)
			for k, want := range map[string]int64{
				"ngbak.operation.duration{ngbak.op=restore,ngbak.outcome=success}":                                             1,
				"ngbak.backend.bytes{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=restore,ngbak.phase=restore}":                    payload(kvB),
				"ngbak.backend.items{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=restore,ngbak.phase=restore,ngbak.stat=records}": 3,
				// The safety backup is the Restore's, not a Create.
				"ngbak.backend.items{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=restore,ngbak.phase=export,ngbak.stat=records}": safetyKV.Stats["records"],
				"ngbak.operation.duration{ngbak.op=create,ngbak.outcome=success}":                                             1,
			} {
				if got[k] != want {
					t.Errorf("%s = %d, want %d", k, got[k], want)
				}
			}
			if safetyKV.Stats["records"] == 0 || got["ngbak.backend.bytes{ngbak.backend=kv,ngbak.kind=mem,ngbak.op=restore,ngbak.phase=export}"] == 0 {
				t.Errorf("the safety backup of kv counted nothing: %v", got)
			}
			if got["ngbak.backup.last_success{}"] != last {
				t.Errorf("the safety backup moved last_success from %d to %d", last, got["ngbak.backup.last_success{}"])
			}
		})
	}
}

func TestTelemetryFailedCreate(t *testing.T) {
	kv := newMem("kv", map[string]string{"a": "1"})
	bad := newMem("bad", nil)
	bad.exportErr = errors.New("connection refused")
	env := newOtelEnv(t, 1, kv, bad)
	if _, err := env.m.Create(context.Background(), nil); err == nil {
		t.Fatal("Create succeeded with a failing backend")
	}
	if diff := cmp.Diff([]span{
		{Name: "ngbak.Create", Failed: true},
		{Name: "ngbak.export", Parent: "ngbak.Create", Backend: "bad", Op: "create", Failed: true},
		{Name: "ngbak.export", Parent: "ngbak.Create", Backend: "kv", Op: "create"},
	}, env.tree(t)); diff != "" {
		t.Errorf("spans (-want +got):\n%s", diff)
	}
	got := env.points(t)
	for k, want := range map[string]int64{
		"ngbak.operation.failures{ngbak.op=create}":                                                1,
		"ngbak.operation.duration{ngbak.op=create,ngbak.outcome=failure}":                          1,
		"ngbak.operation.duration{ngbak.op=create,ngbak.outcome=success}":                          0,
		"ngbak.backup.last_success{}":                                                              0,
		"ngbak.backend.bytes{ngbak.backend=bad,ngbak.kind=mem,ngbak.op=create,ngbak.phase=export}": 0,
	} {
		if got[k] != want {
			t.Errorf("%s = %d, want %d", k, got[k], want)
		}
	}
	if _, ok := got["ngbak.backup.last_success{}"]; ok {
		t.Error("last_success has a value before any Create succeeded")
	}
}

var globalsSet bool

// With no provider, ngbak uses otel's globals: they record nothing until
// the application installs an SDK, and then record into it, even for a
// Manager made before.
func TestTelemetryNoProvider(t *testing.T) {
	probe := &ctxProbe{memExporter: newMem("probe", map[string]string{"x": "y"})}
	env := newEnv(t, ngbak.Options{}, probe)
	ctx := context.Background()
	man := env.create(t)
	if err := env.m.Verify(ctx, man.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := env.m.Restore(ctx, man.ID, nil); err != nil {
		t.Fatal(err)
	}
	if probe.seen.IsValid() {
		t.Errorf("Export ran in a span (%v) with no provider set", probe.seen)
	}

	// otel's globals hand over to the first providers set only, and this
	// test sets them back to no-ops: a second run (-count) stops here.
	if globalsSet {
		return
	}
	globalsSet = true
	sr := tracetest.NewSpanRecorder()
	rd := sdkmetric.NewManualReader()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr)))
	otel.SetMeterProvider(sdkmetric.NewMeterProvider(sdkmetric.WithReader(rd)))
	t.Cleanup(func() {
		otel.SetTracerProvider(tracenoop.NewTracerProvider())
		otel.SetMeterProvider(metricnoop.NewMeterProvider())
	})
	oenv := &otelEnv{testEnv: env, spans: sr, metrics: rd}
	got := oenv.points(t)
	delete(got, "ngbak.backup.last_success{}") // state, observed when collected
	if len(sr.Ended()) > 0 || len(got) > 0 {
		t.Fatalf("recorded before a provider was set: %d spans, metrics %v", len(sr.Ended()), got)
	}
	env.create(t)
	if diff := cmp.Diff([]span{
		{Name: "ngbak.Create"},
		{Name: "ngbak.export", Parent: "ngbak.Create", Backend: "probe", Op: "create"},
	}, oenv.tree(t)); diff != "" {
		t.Errorf("spans once the global provider is set (-want +got):\n%s", diff)
	}
	if n := oenv.points(t)["ngbak.operation.duration{ngbak.op=create,ngbak.outcome=success}"]; n != 1 {
		t.Errorf("creates recorded once the global provider is set = %d, want 1", n)
	}
}

// BenchmarkTelemetryCreate compares a small Create (four in-memory
// backends of 100 records, where fixed costs weigh most) with no provider
// and with the SDK recording every span and metric.
func BenchmarkTelemetryCreate(b *testing.B) {
	for _, name := range []string{"none", "sdk"} {
		b.Run(name, func(b *testing.B) {
			opts := ngbak.Options{Storage: ngbak.Dir(b.TempDir()), TempDir: b.TempDir()}
			if name == "sdk" {
				opts.TracerProvider = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(tracetest.NewSpanRecorder()))
				opts.MeterProvider = sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
			}
			m, err := ngbak.New(opts)
			if err != nil {
				b.Fatal(err)
			}
			for i := range 4 {
				data := map[string]string{}
				for j := range 100 {
					data[fmt.Sprint(j)] = strings.Repeat("v", 100)
				}
				if err := m.Register(newMem(fmt.Sprintf("m%d", i), data)); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				man, err := m.Create(context.Background(), nil)
				if err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if err := m.Delete(context.Background(), man.ID); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
			}
		})
	}
}
