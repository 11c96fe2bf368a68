// The masked-sum collective, three ways, on one machine (run under `mpirun -np 5`: rank 0 is
// the coordinator, ranks 1..4 the participants; bench/mpi_reduce does it):
//  - bare:   MPI_Reduce(MPI_UINT32_T, MPI_SUM) to rank 0 of the same buffer, nothing else;
//  - mpi:    the MPI transport's collective (MpiHub::reduceSum): the announcement to every
//            rank, each rank's MPI thread joining with the vector it contributed, MPI_Ireduce;
//  - zmq:    the ZeroMQ collective: each participant sends its vector in one frame over
//            loopback and rank 0 folds every frame into its running sum as it arrives.
// Times are rank 0's, from the start of the operation (every rank's vector ready) to the sum
// in hand; GB/s counts one vector's bytes. Prints one JSON line per size and method.
//
//   mpirun -np 5 fedtl_bench_mpi_reduce [--sizes 1000000,10000000] [--reps 10]
#include <CLI/CLI.hpp>
#include <mpi.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "common/transport/mpi/mpi_runtime.h"
#include "common/transport/mpi/mpi_transport.h"
#include "common/transport/zmq/zmq_transport.h"

namespace {

using namespace fedtl;
using namespace fedtl::transport;
using Clock = std::chrono::steady_clock;
constexpr Millis kWait{120000};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::uint32_t> vectorOf(int rank, std::size_t n) {
  std::vector<std::uint32_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint32_t>(rank) * 2654435761u + static_cast<std::uint32_t>(i);
  return v;
}

void report(const char* method, std::size_t n, const std::vector<double>& seconds, double bareSeconds) {
  const double t = median(seconds);
  std::printf("{\"method\": \"%s\", \"values\": %zu, \"median_ms\": %.3f, \"gb_per_s\": %.3f, \"vs_bare_mpi_reduce\": %.3f}\n",
              method, n, t * 1e3, static_cast<double>(n) * 4 / t / 1e9, bareSeconds / t);
  std::fflush(stdout);
}

// Rank 0 waits for one frame from each participant.
void awaitAll(Hub& hub, int participants) {
  for (int got = 0; got < participants;) {
    auto in = hub.receive(kWait);
    if (!in) throw Error("a participant did not answer in time");
    ++got;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"the masked-sum collective over MPI (bare MPI_Reduce, the transport) and ZeroMQ"};
  std::vector<std::size_t> sizes{1000000, 10000000};
  int reps = 10;
  app.add_option("--sizes", sizes, "uint32 values per vector")->delimiter(',');
  app.add_option("--reps", reps, "repetitions per size (the median is reported)");
  CLI11_PARSE(app, argc, argv);
  spdlog::set_level(spdlog::level::warn);

  MpiRuntime runtime;
  const int rank = runtime.rank(), size = runtime.size();
  if (size < 2) {
    std::fprintf(stderr, "run under mpirun -np N+1 (N participants)\n");
    return 1;
  }
  const int participants = size - 1;
  MpiTransportOptions options;
  std::unique_ptr<MpiHub> mpiHub;
  std::unique_ptr<MpiLink> mpiLink;
  if (rank == 0)
    mpiHub = std::make_unique<MpiHub>(runtime, MPI_COMM_WORLD, options);
  else
    mpiLink = std::make_unique<MpiLink>(runtime, MPI_COMM_WORLD, options);

  // ZeroMQ over loopback: rank 0 binds, tells the others where (MPI_Bcast), they dial.
  std::unique_ptr<ZmqHub> zmqHub;
  std::unique_ptr<ZmqLink> zmqLink;
  LinkOptions zmqOptions;
  zmqOptions.maxMessageBytes = std::int64_t{1} << 31;
  std::string endpoint(256, '\0');
  if (rank == 0) {
    zmqHub = std::make_unique<ZmqHub>("tcp://127.0.0.1:0", zmqOptions);
    const auto e = zmqHub->endpoint();
    std::memcpy(endpoint.data(), e.data(), std::min(e.size(), endpoint.size() - 1));
  }
  runtime.call([&] { MPI_Bcast(endpoint.data(), static_cast<int>(endpoint.size()), MPI_CHAR, 0, MPI_COMM_WORLD); }, kWait);
  endpoint.resize(std::strlen(endpoint.c_str()));
  if (rank > 0) {
    zmqLink = std::make_unique<ZmqLink>(endpoint, "rank-" + std::to_string(rank), zmqOptions);
    zmqLink->send("hello", kWait);
  } else {
    awaitAll(*zmqHub, participants);
  }

  std::uint64_t key = 1;
  for (std::size_t n : sizes) {
    const auto mine = vectorOf(rank, n);
    std::vector<std::uint32_t> expected(n, 0);
    for (int r = 1; r < size; ++r) {
      const auto v = vectorOf(r, n);
      for (std::size_t i = 0; i < n; ++i) expected[i] += v[i];
    }
    const int warm = 1;

    // Bare MPI_Reduce, on the MPI thread (the only one that calls MPI).
    std::vector<double> bare;
    runtime.call(
        [&] {
          std::vector<std::uint32_t> out(rank == 0 ? n : 0);
          for (int i = 0; i < reps + warm; ++i) {
            MPI_Barrier(MPI_COMM_WORLD);
            const auto t0 = Clock::now();
            MPI_Reduce(rank == 0 ? MPI_IN_PLACE : mine.data(), rank == 0 ? out.data() : nullptr, static_cast<int>(n),
                       MPI_UINT32_T, MPI_SUM, 0, MPI_COMM_WORLD);
            if (rank == 0) std::fill(out.begin(), out.end(), 0u);  // rank 0 adds zeros, like the transport
            if (i >= warm) bare.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
          }
        },
        kWait * 4);

    // The transport's collective.
    std::vector<double> viaMpi;
    bool mpiCorrect = true;
    for (int i = 0; i < reps + warm; ++i, ++key) {
      if (rank > 0) {
        mpiLink->contribute(key, mine, kWait);  // a copy, as the session hands over its masked vector
        mpiLink->send("ready", kWait);
        mpiLink->receive(kWait);  // the next round's go
        continue;
      }
      awaitAll(*mpiHub, participants);
      std::vector<std::uint32_t> sum(n);
      const auto t0 = Clock::now();
      if (!mpiHub->reduceSum(key, mpiHub->peers(), sum, kWait)) throw Error("the transport's reduction failed");
      if (i >= warm) viaMpi.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      mpiCorrect = mpiCorrect && sum == expected;
      for (const auto& p : mpiHub->peers()) mpiHub->send(p, share("go"), kWait);
    }

    // ZeroMQ: every participant's vector in a frame, summed as it arrives.
    std::vector<double> viaZmq;
    bool zmqCorrect = true;
    const std::string frame(reinterpret_cast<const char*>(mine.data()), n * 4);
    for (int i = 0; i < reps + warm; ++i) {
      if (rank > 0) {
        auto go = zmqLink->receive(kWait);
        if (!go) throw Error("no go from rank 0");
        zmqLink->send(frame, kWait);
        continue;
      }
      std::vector<std::uint32_t> sum(n, 0);
      const auto t0 = Clock::now();
      for (int r = 1; r < size; ++r) zmqHub->send("rank-" + std::to_string(r), share("go"), kWait);
      for (int got = 0; got < participants; ++got) {
        auto in = zmqHub->receive(kWait);
        if (!in || in->frame.size() != n * 4) throw Error("a vector did not arrive");
        const char* p = in->frame.bytes().data();
        for (std::size_t j = 0; j < n; ++j) {
          std::uint32_t v;
          std::memcpy(&v, p + j * 4, 4);
          sum[j] += v;
        }
      }
      if (i >= warm) viaZmq.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
      zmqCorrect = zmqCorrect && sum == expected;
    }

    if (rank == 0) {
      const double b = median(bare);
      report("bare MPI_Reduce", n, bare, b);
      report(mpiCorrect ? "transport (MpiHub::reduceSum)" : "transport (MpiHub::reduceSum) WRONG SUM", n, viaMpi, b);
      report(zmqCorrect ? "zeromq streamed sum" : "zeromq streamed sum WRONG SUM", n, viaZmq, b);
    }
  }
  zmqLink.reset();
  zmqHub.reset();
  mpiHub.reset();
  mpiLink.reset();
  return 0;
}
