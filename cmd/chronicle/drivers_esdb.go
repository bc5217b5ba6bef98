package main

// The esdb driver: --store esdb://… and esdb+discover://… connect to
// EventStoreDB, KurrentDB or a chronicle serve.
import _ "github.com/chronicle-go/chronicle/eventstore/esdb"
