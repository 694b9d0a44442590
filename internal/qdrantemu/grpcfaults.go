package qdrantemu

import (
	"context"
	"net"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// GRPCFaults sits in front of any Qdrant gRPC endpoint, the emulator's or a
// real server's, and forwards every call unchanged unless a hook says
// otherwise: it can hold a call (as a server busy making a large snapshot
// does) or rewrite an answer (as a newer server's would look), so that the
// same tests run against both. Qdrant's gRPC API is unary throughout, and so
// is the proxy.
type GRPCFaults struct {
	// Addr is the proxy's host:port.
	Addr string

	server *grpc.Server
	conn   *grpc.ClientConn

	mu       sync.Mutex
	onCall   func(method string)
	onAnswer func(method string, answer []byte) []byte
}

// NewGRPCFaults starts a proxy to the gRPC address target on a loopback port.
func NewGRPCFaults(target string) (*GRPCFaults, error) {
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(1<<30), grpc.MaxCallSendMsgSize(1<<30)))
	if err != nil {
		return nil, err
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		conn.Close()
		return nil, err
	}
	f := &GRPCFaults{Addr: lis.Addr().String(), conn: conn}
	f.server = grpc.NewServer(grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(f.forward),
		grpc.MaxRecvMsgSize(1<<30), grpc.MaxSendMsgSize(1<<30))
	go f.server.Serve(lis)
	return f, nil
}

// Close stops the proxy.
func (f *GRPCFaults) Close() error {
	f.server.Stop()
	return f.conn.Close()
}

// OnCall sets a function called with each call's full method name (e.g.
// "/qdrant.Snapshots/Create") before the call is forwarded; it may block.
// nil removes it.
func (f *GRPCFaults) OnCall(fn func(method string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onCall = fn
}

// OnAnswer sets a function that may replace each successful answer, given
// as the encoded protobuf message. nil removes it.
func (f *GRPCFaults) OnAnswer(fn func(method string, answer []byte) []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onAnswer = fn
}

func (f *GRPCFaults) hooks() (func(string), func(string, []byte) []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.onCall, f.onAnswer
}

func (f *GRPCFaults) forward(_ any, ss grpc.ServerStream) error {
	method, _ := grpc.MethodFromServerStream(ss)
	var req []byte
	if err := ss.RecvMsg(&req); err != nil {
		return err
	}
	onCall, onAnswer := f.hooks()
	if onCall != nil {
		onCall(method)
	}
	in, _ := metadata.FromIncomingContext(ss.Context())
	out := metadata.MD{}
	for k, v := range in {
		if !strings.HasPrefix(k, ":") && !strings.HasPrefix(k, "grpc-") && k != "content-type" && k != "user-agent" {
			out[k] = v
		}
	}
	ctx := metadata.NewOutgoingContext(context.WithoutCancel(ss.Context()), out)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The call goes on when the client gives up, as on a real server.
	var answer []byte
	var header, trailer metadata.MD
	err := f.conn.Invoke(ctx, method, &req, &answer, grpc.ForceCodec(rawCodec{}), grpc.Header(&header), grpc.Trailer(&trailer))
	ss.SetTrailer(trailer)
	if err != nil {
		return err
	}
	if err := ss.SendHeader(header); err != nil {
		return err
	}
	if onAnswer != nil {
		answer = onAnswer(method, answer)
	}
	return ss.SendMsg(&answer)
}

// rawCodec passes messages through as bytes.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *v.(*[]byte), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*v.(*[]byte) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }
