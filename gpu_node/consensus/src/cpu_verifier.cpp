#include <sodium.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "consensus/verifier.h"
#include "fixed_base.h"

namespace consensus {

mesh::Status CheckVerifyArguments(std::span<const SignedMessage> items,
                                  std::span<const std::uint8_t> verdicts) {
  if (verdicts.size() != items.size()) {
    return mesh::Status::InvalidArgument("verify signatures", "one verdict slot per item needed");
  }
  for (const SignedMessage& m : items) {
    if (m.signature == nullptr || m.public_key == nullptr ||
        (m.message == nullptr && m.message_len != 0)) {
      return mesh::Status::InvalidArgument("verify signatures", "item with a null pointer");
    }
  }
  return mesh::Status::Ok();
}

bool VerifyOne(const SignedMessage& item) {
  return crypto_sign_verify_detached(item.signature->data(), item.message, item.message_len,
                                     item.public_key->data()) == 0;
}

// Persistent workers that help the calling thread through one job at a time.
// The caller publishes a Job under mu_ and bumps generation_; each worker that
// wakes registers in busy_, takes chunks from job->next until none are left,
// and deregisters. The caller also takes chunks, then clears job_ and waits for
// busy_ == 0, so no worker touches a Job after Run() returns.
class CpuVerifier::Pool {
 public:
  using RangeFn = std::function<void(std::size_t begin, std::size_t end)>;

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

  void Run(std::size_t n, const RangeFn& fn) {
    Job job;
    job.n = n;
    job.fn = &fn;
    // Enough chunks that a preempted thread does not hold up the batch, few
    // enough that the shared counter is not contended.
    job.chunk = std::max<std::size_t>(1, n / ((threads_.size() + 1) * 4));
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
    std::size_t n = 0;
    std::size_t chunk = 1;
    const RangeFn* fn = nullptr;
    std::atomic<std::size_t> next{0};
  };

  static void Work(Job& job) {
    for (;;) {
      const std::size_t begin = job.next.fetch_add(job.chunk, std::memory_order_relaxed);
      if (begin >= job.n) return;
      (*job.fn)(begin, std::min(job.n, begin + job.chunk));
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

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  Job* job_ = nullptr;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Key tables by public key; touched only under CpuVerifier::mu_.
class CpuVerifier::KeyCache {
 public:
  explicit KeyCache(std::size_t max_tables) : max_tables_(max_tables) {}

  // The table for `key`, building it when the key is listed or seen before
  // and there is room; nullptr means "use libsodium".
  const internal::KeyTable* Lookup(const PublicKey& key) {
    auto it = tables_.find(key);
    if (it != tables_.end()) return it->second.get();
    if (tables_.size() >= max_tables_) return nullptr;
    if (seen_once_.insert(key).second) {
      if (seen_once_.size() > kMaxSeenOnce) seen_once_.clear();
      return nullptr;
    }
    return Add(key);
  }

  void Prepare(std::span<const PublicKey> keys) {
    std::unordered_map<PublicKey, std::unique_ptr<internal::KeyTable>, KeyHash> kept;
    for (const PublicKey& k : keys) {
      if (kept.size() >= max_tables_) break;
      auto it = tables_.find(k);
      if (it != tables_.end()) {
        kept.emplace(k, std::move(it->second));
      } else if (!kept.contains(k)) {
        if (auto t = internal::KeyTable::Build(k)) kept.emplace(k, std::move(t));
      }
    }
    tables_ = std::move(kept);
    seen_once_.clear();
  }

 private:
  struct KeyHash {
    std::size_t operator()(const PublicKey& k) const {
      std::size_t h;
      std::memcpy(&h, k.data(), sizeof h);  // keys are uniformly distributed curve points
      return h;
    }
  };
  static constexpr std::size_t kMaxSeenOnce = 4096;

  const internal::KeyTable* Add(const PublicKey& key) {
    auto t = internal::KeyTable::Build(key);
    if (t == nullptr) return nullptr;  // libsodium rejects this key anyway
    return tables_.emplace(key, std::move(t)).first->second.get();
  }

  std::size_t max_tables_;
  std::unordered_map<PublicKey, std::unique_ptr<internal::KeyTable>, KeyHash> tables_;
  std::unordered_set<PublicKey, KeyHash> seen_once_;
};

CpuVerifier::CpuVerifier() : CpuVerifier(Options{}) {}

CpuVerifier::CpuVerifier(Options options) : options_(options) {
  if (sodium_init() < 0) {
    // Fails only without an entropy source; verification needs none.
  }
  if (options_.threads == 0) options_.threads = std::max(1u, std::thread::hardware_concurrency());
  if (options_.threads > 1) pool_ = std::make_unique<Pool>(options_.threads - 1);
  use_tables_ = options_.key_tables && options_.max_key_tables > 0 && internal::FixedBaseAvailable();
  if (use_tables_) cache_ = std::make_unique<KeyCache>(options_.max_key_tables);
}

CpuVerifier::~CpuVerifier() = default;

std::string CpuVerifier::Name() const {
  return "cpu-libsodium(" + std::to_string(options_.threads) + " threads" +
         (use_tables_ ? ", key tables)" : ")");
}

unsigned CpuVerifier::threads() const { return options_.threads; }

void CpuVerifier::Prepare(std::span<const PublicKey> keys) {
  if (!use_tables_) return;
  std::lock_guard lk(mu_);
  cache_->Prepare(keys);
}

mesh::Status CpuVerifier::Verify(std::span<const SignedMessage> items,
                                 std::span<std::uint8_t> verdicts) {
  MESH_RETURN_IF_ERROR(CheckVerifyArguments(items, verdicts));
  std::lock_guard lk(mu_);
  std::vector<const internal::KeyTable*> tables(items.size(), nullptr);
  if (use_tables_) {
    for (std::size_t i = 0; i < items.size(); ++i) tables[i] = cache_->Lookup(*items[i].public_key);
  }
  const Pool::RangeFn verify_range = [&](std::size_t begin, std::size_t end) {
    for (std::size_t i = begin; i < end; ++i) {
      const SignedMessage& m = items[i];
      const bool ok = tables[i] != nullptr
                          ? tables[i]->Verify(m.message, m.message_len, *m.signature)
                          : VerifyOne(m);
      verdicts[i] = ok ? 1 : 0;
    }
  };
  if (pool_ == nullptr || items.size() < options_.min_parallel_batch) {
    verify_range(0, items.size());
  } else {
    pool_->Run(items.size(), verify_range);
  }
  return mesh::Status::Ok();
}

}  // namespace consensus
