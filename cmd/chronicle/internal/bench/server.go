package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/streams"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"

	esdbstore "github.com/chronicle-go/chronicle/eventstore/esdb"
	"github.com/chronicle-go/chronicle/eventstore/esdbserver"
)

// ServerResult is what Options.ThroughServer measured: the same reads,
// appends and subscription latency through eventstore/esdbserver on a
// loopback port of the same process, over the same store, with the official
// v4 client. Keys with "client" read with the client directly (its Recv
// loop); the others go through eventstore/esdb, the Store over the client,
// as an application would. Each *_vs_inprocess is the figure through the
// server divided by the same figure in process (for latencies: how many
// times longer); *_vs_trivial_server divides by the same measurement
// against a trivial gRPC server, the limit of the client and gRPC
// themselves: for reads, the same client's $all read from a server that
// streams pre-encoded copies of the server's own $all messages; for
// appends, the same appends through eventstore/esdb to a server whose
// Append receives the messages and answers success without decoding or
// storing anything.
type ServerResult struct {
	Append1wPerS              float64 `json:"server_append_1w_per_s"`
	Append1wP50us             float64 `json:"server_append_1w_p50_us"`
	Append1wP99us             float64 `json:"server_append_1w_p99_us"`
	Append1wVsInprocess       float64 `json:"server_append_1w_vs_inprocess"`
	Append1wVsTrivial         float64 `json:"server_append_1w_vs_trivial_server"`
	Append32wEventsPerS       float64 `json:"server_append_32w_events_per_s"`
	Append32wVsInprocess      float64 `json:"server_append_32w_vs_inprocess"`
	Append32wVsTrivial        float64 `json:"server_append_32w_vs_trivial_server"`
	Batch100EventsPerS        float64 `json:"server_append_batch100_events_per_s"`
	Batch100VsInprocess       float64 `json:"server_append_batch100_vs_inprocess"`
	Batch100VsTrivial         float64 `json:"server_append_batch100_vs_trivial_server"`
	TrivialAppend1wPerS       float64 `json:"trivial_server_append_1w_per_s"`
	TrivialAppend32wPerS      float64 `json:"trivial_server_append_32w_events_per_s"`
	TrivialBatch100PerS       float64 `json:"trivial_server_append_batch100_events_per_s"`
	SubscribeLatencyP50us     float64 `json:"server_subscribe_latency_p50_us"`
	SubscribeLatencyP99us     float64 `json:"server_subscribe_latency_p99_us"`
	SubscribeP99VsInprocess   float64 `json:"server_subscribe_latency_p99_vs_inprocess"`
	ReadStreamEventsPerS      float64 `json:"server_read_stream_events_per_s"`
	ReadStreamVsInprocess     float64 `json:"server_read_stream_vs_inprocess"`
	ReadStreamClientPerS      float64 `json:"server_read_stream_client_events_per_s"`
	ReadStreamClientVsInproc  float64 `json:"server_read_stream_client_vs_inprocess"`
	ReadAllEventsPerS         float64 `json:"server_read_all_events_per_s"`
	ReadAllVsInprocess        float64 `json:"server_read_all_vs_inprocess"`
	ReadAllVsTrivial          float64 `json:"server_read_all_vs_trivial_server"`
	ReadAllClientPerS         float64 `json:"server_read_all_client_events_per_s"`
	ReadAllClientVsInprocess  float64 `json:"server_read_all_client_vs_inprocess"`
	ReadAllClientVsTrivial    float64 `json:"server_read_all_client_vs_trivial_server"`
	TrivialServerReadAllPerS  float64 `json:"trivial_server_read_all_events_per_s"`
	TrivialServerMessageBytes float64 `json:"trivial_server_message_bytes"`
}

// throughServer serves r's store with esdbserver on a loopback port and
// measures through the official client what Run measured in process. It
// reads the stream and the $all events the in-process steps wrote (allEvents
// of them), then writes streams named <prefix>-server-….
func (r *runner) throughServer(res *Result, allEvents int, cleanup bool) (err error) {
	srv, err := esdbserver.New(r.s, esdbserver.WithAddress("127.0.0.1:0"))
	if err != nil {
		return err
	}
	stop, err := serve(srv.Listen, func() error { return srv.Serve(context.WithoutCancel(r.ctx)) }, srv.Shutdown)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	client, err := esdbstore.Open(r.ctx, srv.ConnectionString())
	if err != nil {
		return err
	}
	defer client.Close()
	sr := &runner{ctx: r.ctx, s: client, sz: r.sz, out: r.out, prefix: r.prefix + "-server", streams: map[string]bool{}}
	defer func() { r.total.Add(sr.total.Load()) }()
	if cleanup {
		defer func() { err = errors.Join(err, sr.cleanup()) }()
	}
	sv := &ServerResult{}
	res.ServerResult = sv
	long := r.prefix + "-long"
	steps := []struct {
		name string
		run  func() error
	}{
		{"through the server: read a stream", func() (err error) {
			sv.ReadStreamEventsPerS, err = sr.timeStream(long)
			return err
		}},
		{"through the server: read a stream, client only", func() (err error) {
			sv.ReadStreamClientPerS, err = clientRead(r.ctx, client.Client(), long, uint64(r.sz.StreamEvents))
			return err
		}},
		{"through the server: read $all", func() (err error) {
			var n int
			sv.ReadAllEventsPerS, n, err = sr.timeAll(uint64(allEvents))
			if err == nil && n != allEvents {
				err = fmt.Errorf("read %d events of %d", n, allEvents)
			}
			return err
		}},
		{"through the server: read $all, client only", func() (err error) {
			sv.ReadAllClientPerS, err = clientRead(r.ctx, client.Client(), "", uint64(allEvents))
			return err
		}},
		{"trivial server: read $all, client only", func() (err error) {
			sv.TrivialServerReadAllPerS, sv.TrivialServerMessageBytes, err = trivialRead(r.ctx, srv, allEvents)
			return err
		}},
		{"through the server: append, 1 writer", func() (err error) {
			sv.Append1wPerS, sv.Append1wP50us, sv.Append1wP99us, err = sr.append1()
			return err
		}},
		{"through the server: append, 32 writers", func() (err error) { sv.Append32wEventsPerS, err = sr.append32(); return err }},
		{"through the server: append, batches of 100", func() (err error) { sv.Batch100EventsPerS, err = sr.batch100(); return err }},
		{"trivial server: append (1 writer, 32 writers, batches of 100)", func() error { return trivialAppends(r, srv, sv) }},
		{"through the server: subscription latency", func() (err error) {
			sv.SubscribeLatencyP50us, sv.SubscribeLatencyP99us, err = sr.subscribe()
			return err
		}},
	}
	for _, st := range steps {
		r.progress("%s…", st.name)
		if err := st.run(); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	sv.Append1wVsInprocess = ratio(sv.Append1wPerS, res.Append1wPerS)
	sv.Append32wVsInprocess = ratio(sv.Append32wEventsPerS, res.Append32wEventsPerS)
	sv.Batch100VsInprocess = ratio(sv.Batch100EventsPerS, res.AppendBatch100EventsPerS)
	sv.Append1wVsTrivial = ratio(sv.Append1wPerS, sv.TrivialAppend1wPerS)
	sv.Append32wVsTrivial = ratio(sv.Append32wEventsPerS, sv.TrivialAppend32wPerS)
	sv.Batch100VsTrivial = ratio(sv.Batch100EventsPerS, sv.TrivialBatch100PerS)
	sv.SubscribeP99VsInprocess = ratio(sv.SubscribeLatencyP99us, res.SubscribeLatencyP99us)
	sv.ReadStreamVsInprocess = ratio(sv.ReadStreamEventsPerS, res.ReadStreamEventsPerS)
	sv.ReadStreamClientVsInproc = ratio(sv.ReadStreamClientPerS, res.ReadStreamEventsPerS)
	sv.ReadAllVsInprocess = ratio(sv.ReadAllEventsPerS, res.ReadAllEventsPerS)
	sv.ReadAllClientVsInprocess = ratio(sv.ReadAllClientPerS, res.ReadAllEventsPerS)
	sv.ReadAllVsTrivial = ratio(sv.ReadAllEventsPerS, sv.TrivialServerReadAllPerS)
	sv.ReadAllClientVsTrivial = ratio(sv.ReadAllClientPerS, sv.TrivialServerReadAllPerS)
	return nil
}

// serve listens, serves in a goroutine, and returns a function that shuts
// the server down and reports how serving ended.
func serve(listen, run func() error, shutdown func(context.Context) error) (stop func() error, err error) {
	if err := listen(); err != nil {
		return nil, err
	}
	served := make(chan error, 1)
	go func() { served <- run() }()
	return func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		return errors.Join(shutdown(ctx), <-served)
	}, nil
}

// clientRead reads count events of stream ("" for $all) with the official
// client's Recv loop, and returns the rate.
func clientRead(ctx context.Context, c *esdb.Client, stream string, count uint64) (float64, error) {
	start := time.Now()
	var (
		rs  *esdb.ReadStream
		err error
	)
	if stream == "" {
		rs, err = c.ReadAll(ctx, esdb.ReadAllOptions{}, count)
	} else {
		rs, err = c.ReadStream(ctx, stream, esdb.ReadStreamOptions{}, count)
	}
	if err != nil {
		return 0, err
	}
	defer rs.Close()
	n := 0
	for {
		if _, err := rs.Recv(); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return 0, err
		}
		n++
	}
	d := time.Since(start)
	if uint64(n) != count {
		return 0, fmt.Errorf("read %d events of %d", n, count)
	}
	return rate(n, d), nil
}

// trivialMessages is how many of esdbserver's $all messages the trivial
// server repeats.
const trivialMessages = 1000

// trivialRead captures, byte for byte, the first messages srv sends for a
// $all read, then serves them round-robin from a trivial
// gRPC server that does nothing else, and times the official client reading
// count events from it. It returns the rate and the mean message size.
func trivialRead(ctx context.Context, srv *esdbserver.Server, count int) (perS, msgBytes float64, err error) {
	msgs, err := captureReadAll(ctx, srv.Addr(), trivialMessages)
	if err != nil {
		return 0, 0, fmt.Errorf("capture: %w", err)
	}
	total := 0
	for _, m := range msgs {
		total += len(m.b)
	}
	c, stop, err := trivialServer(srv, grpc.StreamDesc{StreamName: "Read", ServerStreams: true, Handler: func(_ any, call grpc.ServerStream) error {
		var req streams.ReadReq
		if err := call.RecvMsg(&req); err != nil {
			return err
		}
		for i := range req.GetOptions().GetCount() {
			if err := call.SendMsg(msgs[i%uint64(len(msgs))]); err != nil {
				return err
			}
		}
		return nil
	}})
	if err != nil {
		return 0, 0, err
	}
	defer func() { err = errors.Join(err, stop()) }()
	perS, err = clientRead(ctx, c, "", uint64(count))
	return perS, float64(total) / float64(len(msgs)), err
}

// trivialAppends times the appends of r through eventstore/esdb, as the
// through-server steps do, against a trivial gRPC server whose Append
// receives every message as it is (no decoding), stores nothing, and
// answers success.
func trivialAppends(r *runner, srv *esdbserver.Server, sv *ServerResult) (err error) {
	var position atomic.Uint64
	c, stop, err := trivialServer(srv, grpc.StreamDesc{StreamName: "Append", ClientStreams: true, Handler: func(_ any, call grpc.ServerStream) error {
		n := uint64(0)
		for {
			var m rawMessage
			if err := call.RecvMsg(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return err
			}
			n++
		}
		// The options, then n-1 events.
		pos := position.Add(max(n, 2) - 1)
		return call.SendMsg(&streams.AppendResp{Result: &streams.AppendResp_Success_{Success: &streams.AppendResp_Success{
			CurrentRevisionOption: &streams.AppendResp_Success_CurrentRevision{CurrentRevision: max(n, 2) - 2},
			PositionOption:        &streams.AppendResp_Success_Position{Position: &streams.AppendResp_Position{CommitPosition: pos, PreparePosition: pos}},
		}}})
	}})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stop()) }()
	store, err := esdbstore.New(c)
	if err != nil {
		return err
	}
	defer store.Close()
	// The trivial server keeps nothing: no cleanup, and nothing counts
	// towards the store's events.
	tr := &runner{ctx: r.ctx, s: store, sz: r.sz, out: r.out, prefix: r.prefix + "-trivial", streams: map[string]bool{}}
	if sv.TrivialAppend1wPerS, _, _, err = tr.append1(); err != nil {
		return err
	}
	if sv.TrivialAppend32wPerS, err = tr.append32(); err != nil {
		return err
	}
	sv.TrivialBatch100PerS, err = tr.batch100()
	return err
}

// trivialServer serves one method of the Streams service, handler, on a
// loopback port with srv's transport settings (so that only the work
// differs) and rawCodec, and returns an official client connected to it
// and a function that stops both.
func trivialServer(srv *esdbserver.Server, handler grpc.StreamDesc) (c *esdb.Client, stop func() error, err error) {
	gs := grpc.NewServer(append(srv.ServerOptions(), grpc.ForceServerCodecV2(rawCodec{}))...)
	gs.RegisterService(&grpc.ServiceDesc{
		ServiceName: streams.Streams_ServiceDesc.ServiceName,
		HandlerType: (*any)(nil),
		Streams:     []grpc.StreamDesc{handler},
	}, nil)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	stopServer, _ := serve(func() error { return nil }, func() error {
		if err := gs.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			return err
		}
		return nil
	}, func(context.Context) error { gs.Stop(); return nil })
	cfg, err := esdb.ParseConnectionString("esdb://" + lis.Addr().String() + "?tls=false")
	if err == nil {
		cfg.Logger = esdb.NoopLogging()
		c, err = esdb.NewClient(cfg)
	}
	if err != nil {
		return nil, nil, errors.Join(err, stopServer())
	}
	return c, func() error { return errors.Join(c.Close(), stopServer()) }, nil
}

// captureReadAll reads the first n messages of $all from the esdbserver at
// addr as the official client asks for them, keeping their encoded bytes.
func captureReadAll(ctx context.Context, addr string, n int) ([]*rawMessage, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodecV2(rawCodec{}), grpc.MaxCallRecvMsgSize(esdbserver.MaxMessageSize)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	call, err := conn.NewStream(ctx, &streams.Streams_ServiceDesc.Streams[0], "/"+streams.Streams_ServiceDesc.ServiceName+"/Read")
	if err != nil {
		return nil, err
	}
	req := &streams.ReadReq{Options: &streams.ReadReq_Options{
		CountOption:   &streams.ReadReq_Options_Count{Count: uint64(n)},
		FilterOption:  &streams.ReadReq_Options_NoFilter{},
		ReadDirection: streams.ReadReq_Options_Forwards,
		StreamOption:  &streams.ReadReq_Options_All{All: &streams.ReadReq_Options_AllOptions{AllOption: &streams.ReadReq_Options_AllOptions_Start{}}},
		UuidOption:    &streams.ReadReq_Options_UUIDOption{Content: &streams.ReadReq_Options_UUIDOption_Structured{}},
	}}
	if err := call.SendMsg(req); err != nil {
		return nil, err
	}
	if err := call.CloseSend(); err != nil {
		return nil, err
	}
	var msgs []*rawMessage
	for {
		m := &rawMessage{}
		if err := call.RecvMsg(m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	if len(msgs) == 0 {
		return nil, errors.New("no events in $all")
	}
	return msgs, nil
}

// rawMessage is an encoded gRPC message, passed through rawCodec as is.
type rawMessage struct{ b []byte }

// rawCodec sends rawMessages as they are and protobuf messages encoded.
type rawCodec struct{}

func (rawCodec) Name() string { return "proto" }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *rawMessage:
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	case proto.Message:
		b, err := proto.Marshal(m)
		return mem.BufferSlice{mem.SliceBuffer(b)}, err
	}
	return nil, fmt.Errorf("bench: cannot encode %T", v)
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *rawMessage:
		m.b = data.Materialize()
		return nil
	case proto.Message:
		return proto.Unmarshal(data.Materialize(), m)
	}
	return fmt.Errorf("bench: cannot decode into %T", v)
}

// serverTable formats the through-server figures.
func (sv *ServerResult) table(row func(name, value, note string)) {
	num := func(v float64) string { return fmt.Sprintf("%.0f", v) }
	x := func(v float64, what string) string { return fmt.Sprintf("%.2f × %s", v, what) }
	row("server_append_1w_per_s", num(sv.Append1wPerS), x(sv.Append1wVsInprocess, "in process, ")+
		x(sv.Append1wVsTrivial, fmt.Sprintf("trivial server; p50 %.0f µs, p99 %.0f µs", sv.Append1wP50us, sv.Append1wP99us)))
	row("server_append_32w_events_per_s", num(sv.Append32wEventsPerS), x(sv.Append32wVsInprocess, "in process, ")+x(sv.Append32wVsTrivial, "trivial server"))
	row("server_append_batch100_events_per_s", num(sv.Batch100EventsPerS), x(sv.Batch100VsInprocess, "in process, ")+x(sv.Batch100VsTrivial, "trivial server"))
	row("trivial_server_append_1w_per_s", num(sv.TrivialAppend1wPerS), "the same appends to a server that answers success, storing nothing")
	row("trivial_server_append_32w_events_per_s", num(sv.TrivialAppend32wPerS), "")
	row("trivial_server_append_batch100_events_per_s", num(sv.TrivialBatch100PerS), "")
	row("server_read_stream_events_per_s", num(sv.ReadStreamEventsPerS), x(sv.ReadStreamVsInprocess, "in process (eventstore/esdb)"))
	row("server_read_stream_client_events_per_s", num(sv.ReadStreamClientPerS), x(sv.ReadStreamClientVsInproc, "in process (the client alone)"))
	row("server_read_all_events_per_s", num(sv.ReadAllEventsPerS),
		x(sv.ReadAllVsInprocess, "in process, ")+x(sv.ReadAllVsTrivial, "trivial server (eventstore/esdb)"))
	row("server_read_all_client_events_per_s", num(sv.ReadAllClientPerS),
		x(sv.ReadAllClientVsInprocess, "in process, ")+x(sv.ReadAllClientVsTrivial, "trivial server (the client alone)"))
	row("trivial_server_read_all_events_per_s", num(sv.TrivialServerReadAllPerS),
		fmt.Sprintf("pre-encoded copies of the server's messages (%.0f bytes each)", sv.TrivialServerMessageBytes))
	row("server_subscribe_latency_p50_us", num(sv.SubscribeLatencyP50us), "append returned → live subscriber has it, through the server")
	row("server_subscribe_latency_p99_us", num(sv.SubscribeLatencyP99us), x(sv.SubscribeP99VsInprocess, "in process"))
}
