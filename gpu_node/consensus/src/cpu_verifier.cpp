#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "consensus/verifier.h"

namespace consensus {

bool VerifyOne(const SignedMessage& item) {
  return crypto_sign_verify_detached(item.signature->data(), item.message, item.message_len,
                                     item.public_key->data()) == 0;
}

// Persistent workers that help the calling thread through one batch at a time.
// The caller publishes a Job under mu_ and bumps generation_; each worker that
// wakes registers in busy_, takes chunks from job->next until none are left,
// and deregisters. The caller also takes chunks, then clears job_ and waits for
// busy_ == 0, so no worker touches a Job after its batch returns.
class CpuVerifier::Pool {
 public:
  explicit Pool(unsigned workers) {
    threads_.reserve(workers);
    for (unsigned i = 0; i < workers; ++i) threads_.emplace_back([this] { WorkerLoop(); });
  }
  ~Pool() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  void Run(std::span<const SignedMessage> items, std::span<std::uint8_t> verdicts) {
    std::lock_guard call_lock(call_mu_);  // one batch at a time
    Job job;
    job.items = items;
    job.verdicts = verdicts;
    // Enough chunks that a slow (preempted) thread does not hold up the batch,
    // few enough that the shared counter is not contended.
    const std::size_t participants = threads_.size() + 1;
    job.chunk = std::max<std::size_t>(1, items.size() / (participants * 4));
    {
      std::lock_guard lk(mu_);
      job_ = &job;
      ++generation_;
    }
    work_cv_.notify_all();
    Work(job);
    std::unique_lock lk(mu_);
    job_ = nullptr;
    done_cv_.wait(lk, [this] { return busy_ == 0; });
  }

 private:
  struct Job {
    std::span<const SignedMessage> items;
    std::span<std::uint8_t> verdicts;
    std::size_t chunk = 1;
    std::atomic<std::size_t> next{0};
  };

  static void Work(Job& job) {
    const std::size_t n = job.items.size();
    for (;;) {
      const std::size_t begin = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
      if (begin >= n) return;
      const std::size_t end = std::min(n, begin + job.chunk);
      for (std::size_t i = begin; i < end; ++i) {
        job.verdicts[i] = VerifyOne(job.items[i]) ? 1 : 0;
      }
    }
  }

  void WorkerLoop() {
    std::uint64_t seen = 0;
    std::unique_lock lk(mu_);
    for (;;) {
      work_cv_.wait(lk, [&] { return stop_ || (job_ != nullptr && generation_ != seen); });
      if (stop_) return;
      seen = generation_;
      Job* job = job_;
      ++busy_;
      lk.unlock();
      Work(*job);
      lk.lock();
      if (--busy_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex call_mu_;
  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  Job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

CpuVerifier::CpuVerifier() : CpuVerifier(Options{}) {}

CpuVerifier::CpuVerifier(Options options) : options_(options) {
  if (sodium_init() < 0) {
    // Only fails when no entropy source exists; verification needs none, so go on.
  }
  if (options_.threads == 0) options_.threads = std::max(1u, std::thread::hardware_concurrency());
  if (options_.threads > 1) pool_ = std::make_unique<Pool>(options_.threads - 1);
}

CpuVerifier::~CpuVerifier() = default;

std::string CpuVerifier::Name() const {
  return "cpu-libsodium(" + std::to_string(options_.threads) + " threads)";
}

unsigned CpuVerifier::threads() const { return options_.threads; }

mesh::Status CpuVerifier::Verify(std::span<const SignedMessage> items,
                                 std::span<std::uint8_t> verdicts) {
  if (verdicts.size() != items.size()) {
    return mesh::Status::InvalidArgument("verify signatures", "one verdict slot per item needed");
  }
  for (const SignedMessage& m : items) {
    if (m.signature == nullptr || m.public_key == nullptr || (m.message == nullptr && m.message_len != 0)) {
      return mesh::Status::InvalidArgument("verify signatures", "item with a null pointer");
    }
  }
  if (pool_ == nullptr || items.size() < options_.min_parallel_batch) {
    for (std::size_t i = 0; i < items.size(); ++i) verdicts[i] = VerifyOne(items[i]) ? 1 : 0;
    return mesh::Status::Ok();
  }
  pool_->Run(items, verdicts);
  return mesh::Status::Ok();
}

}  // namespace consensus
