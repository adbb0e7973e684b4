// `stratoswarm-test bandwidth`: throughput between this node and the GPU
// peer, over the GPU peer's bandwidth endpoint (gpu_node
// serve/bandwidth_endpoint.h; protocol in docs/wire_format.md).
//
// The node authenticates with its own CURVE key (from its saved identity):
// the endpoint admits only keys of nodes the GPU peer has recorded, and the
// node pins the cluster's CURVE key from the same identity. Flow control is
// credit-based (the ZeroMQ guide's file transfer, "fileio3"): the client keeps
// at most kBandwidthWindow chunks in flight, so neither side queues more.
//
// Thread safety: every function may be called from any thread; each call
// uses its own ZeroMQ context.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <string>

#include "mesh/crypto.h"
#include "mesh/status.h"

namespace swarmlet {

// The wire protocol, shared with the endpoint. One frame each way (DEALER to
// ROUTER, no delimiter); the first byte is the operation.
inline constexpr char kBandwidthHello = 'H';  // -> 'H' + kBandwidthVersion
inline constexpr char kBandwidthGet = 'G';    // -> 'D' + kBandwidthChunkBytes bytes
inline constexpr char kBandwidthData = 'D';
inline constexpr char kBandwidthPut = 'P';  // 'P' + up to kBandwidthChunkBytes -> 'A'
inline constexpr char kBandwidthAck = 'A';
inline constexpr char kBandwidthVersion = '1';
inline constexpr std::size_t kBandwidthChunkBytes = 64 * 1024;
inline constexpr int kBandwidthWindow = 16;  // chunks in flight per client (1 MiB)
// ZMQ_MAXMSGSIZE on both sides: ZeroMQ checks the frame as it is on the wire,
// which CURVE makes larger than the plain message (MAC, nonce, command name).
inline constexpr std::int64_t kBandwidthMaxMessageBytes = kBandwidthChunkBytes + 1024;
// The endpoint listens on the mesh port + 3 unless told otherwise
// (mesh 7946, join 7947, bootstrap 7948, bandwidth 7949).
inline constexpr int kBandwidthPortOffset = 3;

enum class BandwidthDirection { kDownload, kUpload };  // download: GPU peer -> node

struct BandwidthTarget {
  std::string ip;
  int port = 0;
  mesh::CurvePublicKey server_key{};  // the cluster's CURVE key
  mesh::CurveKeyPair client_keys;     // this node's
};

struct BandwidthResult {
  BandwidthDirection direction = BandwidthDirection::kDownload;
  std::uint64_t bytes = 0;
  double seconds = 0;
  double mbit_per_s() const {
    return seconds > 0 ? static_cast<double>(bytes) * 8 / 1e6 / seconds : 0;
  }
};

// Connects and says hello (within `timeout`), then moves chunks for
// `duration` and drains what is in flight. Unavailable when the endpoint does
// not answer within `timeout` (at hello, or mid-transfer), PermissionDenied
// when it refuses this node's key.
mesh::Result<BandwidthResult> MeasureBandwidth(const BandwidthTarget& target,
                                               BandwidthDirection direction,
                                               std::chrono::milliseconds duration,
                                               std::chrono::milliseconds timeout);

// The seed's message stress: `messages` puts of `bytes` each (1..64 KiB)
// node -> GPU peer, kBandwidthWindow in flight, each acknowledged by the
// endpoint. A stall of `timeout` ends the count: what was not acknowledged
// by then is lost. InvalidArgument for bad counts; the hello errors above.
struct StressResult {
  int messages = 0;
  std::size_t bytes_each = 0;
  int acked = 0;
  double seconds = 0;  // first send to last acknowledgement
  int lost() const { return messages - acked; }
};
mesh::Result<StressResult> MeasureMessages(const BandwidthTarget& target, int messages, std::size_t bytes,
                                           std::chrono::milliseconds timeout);

struct BandwidthToolOptions {
  std::string state_dir = "/var/lib/stratoswarm";  // the joined swarmlet's
  std::string cluster;  // "IP[:PORT]" of the bandwidth endpoint; empty: from the member list
  int duration_s = 10;  // per direction
  std::string direction = "download";  // download | upload | both
  bool json = false;                   // one JSON object per direction and line
  int messages = 0;                    // > 0: the message stress instead (`stratoswarm-test stress`)
  std::size_t message_bytes = 1024;
  std::chrono::milliseconds timeout{5000};
};

// Loads the node identity and member list from state_dir, finds the GPU
// peer (the primary's mesh address, port + kBandwidthPortOffset, unless
// `cluster` says otherwise) and prints one line per direction:
//   GPU peer -> rpi-1: 812.4 Mbit/s (101.6 MB/s) over 10.0 s
// or {"direction":"download","node":"rpi-1","bytes":…,"seconds":…,"mbit_per_s":…}.
// Returns kExitOk, or kExitFailure with one line on stderr.
int RunBandwidthTool(const BandwidthToolOptions& options, std::ostream& out);

}  // namespace swarmlet
