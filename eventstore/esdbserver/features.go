package esdbserver

import (
	"context"
	"strings"

	"github.com/EventStore/EventStore-Client-Go/v4/protos/serverfeatures"
	"github.com/EventStore/EventStore-Client-Go/v4/protos/shared"
	"google.golang.org/grpc"
)

// supportedMethod is one implemented method, as ServerFeatures lists it
// (names are lower-cased there).
type supportedMethod struct {
	service  string // full gRPC service name, e.g. "event_store.client.streams.Streams"
	method   string
	features []string
}

// featuresService implements ServerFeatures: the version and the methods of
// every service the server hosts, so that clients enable only what exists.
type featuresService struct {
	serverfeatures.UnimplementedServerFeaturesServer
	srv *Server
}

func (f *featuresService) register(r grpc.ServiceRegistrar) {
	serverfeatures.RegisterServerFeaturesServer(r, f)
}

func (f *featuresService) methods() []supportedMethod {
	return []supportedMethod{{service: serverfeatures.ServerFeatures_ServiceDesc.ServiceName, method: "GetSupportedMethods"}}
}

// GetSupportedMethods reports Version and the implemented methods. It needs
// no credentials: clients call it while discovering the server.
func (f *featuresService) GetSupportedMethods(context.Context, *shared.Empty) (*serverfeatures.SupportedMethods, error) {
	out := &serverfeatures.SupportedMethods{EventStoreServerVersion: Version}
	for _, svc := range f.srv.services {
		for _, m := range svc.methods() {
			out.Methods = append(out.Methods, &serverfeatures.SupportedMethod{
				MethodName:  strings.ToLower(m.method),
				ServiceName: strings.ToLower(m.service),
				Features:    m.features,
			})
		}
	}
	return out, nil
}
