package esdbserver

import (
	"context"
	"net"
	"strconv"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/gossip"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
)

// gossipService implements Gossip: a cluster of one alive leader, this
// server, so that esdb+discover:// and multi-host connection strings work.
type gossipService struct {
	gossip.UnimplementedGossipServer
	srv *Server
}

func (g *gossipService) register(r grpc.ServiceRegistrar) { gossip.RegisterGossipServer(r, g) }

func (g *gossipService) methods() []supportedMethod {
	return []supportedMethod{{service: gossip.Gossip_ServiceDesc.ServiceName, method: "Read"}}
}

// Read describes the cluster. It needs no credentials, as on the real
// server. The member's address is the one the server listens on or, when
// that is every interface (or the services are mounted on another server),
// the local address the caller reached.
func (g *gossipService) Read(ctx context.Context, _ *shared.Empty) (*gossip.ClusterInfo, error) {
	host, port, ok := g.endpoint(ctx)
	if !ok {
		return nil, newError(codes.Unavailable, "esdbserver: cannot tell the address of this node").st.Err()
	}
	return &gossip.ClusterInfo{Members: []*gossip.MemberInfo{{
		InstanceId:   encodeUUID(g.srv.id, false),
		TimeStamp:    ticks(time.Now()),
		State:        gossip.MemberInfo_Leader,
		IsAlive:      true,
		HttpEndPoint: &gossip.EndPoint{Address: host, Port: port},
	}}}, nil
}

func (g *gossipService) endpoint(ctx context.Context) (string, uint32, bool) {
	if host, port, ok := splitAddr(g.srv.Addr()); ok && !net.ParseIP(host).IsUnspecified() {
		return host, port, true
	}
	if p, ok := peer.FromContext(ctx); ok && p.LocalAddr != nil {
		return splitAddr(p.LocalAddr.String())
	}
	return "", 0, false
}

func splitAddr(addr string) (string, uint32, bool) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, false
	}
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil {
		return "", 0, false
	}
	return host, uint32(port), true
}
