// hnswlib_harness.cpp -- the anchor peer of the ANN benchmark: hnswlib
// (header-only C++, fetched by bench/fetch_peers.sh into bench/.cache),
// compiled natively with -O3 -march=native, run on the same dataset
// directory as ann-bench and printing the same CSV records with the same
// method (see the opening comment of bench/ann/ann_bench.c):
//   BUILD,impl,variant,dataset,n,dim,M,efc,threads,build_s,bytes_rss,bytes_acct
//   SEARCH,impl,variant,dataset,ef,recall,qps1,qps2,p50_us,p99_us
//   CHURN,impl,variant,dataset,ef,recall_before,recall_after,fresh_ins_s,
//         churn_ins_s,reinserted,bytes_acct_before,bytes_acct_after
//
// Cosine is hnswlib's InnerProductSpace on vectors normalised here before
// insertion (hnswlib has no cosine space of its own; its Python binding
// does exactly this). Normalisation is outside the timed region; ours does
// it inside hnsw_insert, which slightly favours hnswlib.
// Churn uses hnswlib's own mechanism: markDelete, then
// addPoint(v, new_label, replace_deleted=true) in an index created with
// allow_replace_deleted. Re-inserted rows get fresh labels because
// replace_deleted reuses any deleted slot and erases that slot's old label
// from the lookup table: reusing a still-deleted label would corrupt it.
// bytes_acct is computed from hnswlib's public members (level-0 block,
// upper-level link lists, per-element level and lock, the fixed table of
// 65,536 label locks, the label hash map estimated as one node + one bucket
// per entry); its visited-list pool (2 bytes per element per searching
// thread, private) is not counted, so bytes_acct slightly favours hnswlib.
//
// Build (run.sh does it): g++ -O3 -march=native -std=c++17 -pthread
//   -I bench/.cache/hnswlib bench/ann/hnswlib_harness.cpp -o hnswlib_harness
#include "hnswlib/hnswlib.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace {

constexpr int K = 10;
using Index = hnswlib::HierarchicalNSW<float>;

double now_s()
{
    return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

size_t rss_bytes()
{
    unsigned long size = 0, res = 0;
    if (FILE *f = std::fopen("/proc/self/statm", "r")) {
        if (std::fscanf(f, "%lu %lu", &size, &res) != 2) res = 0;
        std::fclose(f);
    }
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

template <typename T>
bool read_vecs(const std::string &path, std::vector<T> &out, size_t &rows, uint32_t &dim)
{
    FILE *f = std::fopen(path.c_str(), "rb");
    if (!f) return false;
    int32_t d = 0;
    rows = 0;
    out.clear();
    while (std::fread(&d, 4, 1, f) == 1) {
        if (d <= 0 || (rows && (uint32_t)d != dim)) break;
        dim = (uint32_t)d;
        out.resize((rows + 1) * dim);
        if (std::fread(&out[rows * dim], sizeof(T), dim, f) != dim) break;
        rows++;
    }
    bool ok = std::feof(f) && rows > 0;
    std::fclose(f);
    return ok;
}

double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct Bench {
    std::string name = "dataset";
    std::vector<float> base, q;
    std::vector<int32_t> gt;
    size_t n = 0, nq = 0;
    uint32_t dim = 0, gtk = 0;
    size_t M = 16, efc = 200;
    std::unique_ptr<hnswlib::InnerProductSpace> space;
    std::unique_ptr<Index> idx;
    std::vector<int32_t> label2row;  // hnswlib label -> base row
    std::vector<size_t> row2label;   // base row -> its current label

    const float *row(size_t r) const { return &base[r * dim]; }

    double build(int nthreads)
    {
        idx.reset(new Index(space.get(), n, M, efc, 100, true));
        label2row.assign(n, -1);
        row2label.assign(n, 0);
        std::atomic<size_t> next{0};
        auto work = [&] {
            for (size_t r; (r = next++) < n;) idx->addPoint(row(r), r);
        };
        for (size_t r = 0; r < n; r++) label2row[r] = (int32_t)r, row2label[r] = r;
        double t0 = now_s();
        std::vector<std::thread> th;
        for (int i = 1; i < nthreads; i++) th.emplace_back(work);
        work();
        for (auto &t : th) t.join();
        return now_s() - t0;
    }

    double bytes_acct() const
    {
        const Index &h = *idx;
        double b = (double)h.max_elements_ * h.size_data_per_element_;
        b += (double)h.max_elements_ * (sizeof(void *) + sizeof(int) + sizeof(std::mutex));
        b += (double)h.label_op_locks_.size() * sizeof(std::mutex);
        for (size_t i = 0; i < h.cur_element_count; i++)
            if (h.element_levels_[i] > 0) b += (double)h.size_links_per_element_ * h.element_levels_[i];
        b += (double)h.label_lookup_.size() * (sizeof(std::pair<hnswlib::labeltype, hnswlib::tableint>) + sizeof(void *));
        b += (double)h.label_lookup_.bucket_count() * sizeof(void *);
        b += (double)h.deleted_elements.size() * 2 * sizeof(void *);
        return b / (double)n;
    }

    // Runs queries [from, to); rows[qi*K..] = base rows found; lat = us or null.
    void search_range(size_t from, size_t to, int32_t *rows, double *lat) const
    {
        for (size_t qi = from; qi < to; qi++) {
            double t0 = lat ? now_s() : 0;
            auto pq = idx->searchKnn(&q[qi * dim], K);
            if (lat) lat[qi] = (now_s() - t0) * 1e6;
            int32_t *out = rows + qi * K;
            for (int i = 0; i < K; i++) out[i] = -1;
            for (int i = (int)pq.size() - 1; i >= 0; i--) {
                size_t label = pq.top().second;
                out[i] = label < label2row.size() ? label2row[label] : -1;
                pq.pop();
            }
        }
    }

    double search_all(size_t ef, int nthreads, int32_t *rows, double *lat)
    {
        idx->setEf(ef);
        double t0 = now_s();
        std::vector<std::thread> th;
        for (int i = 1; i < nthreads; i++)
            th.emplace_back([=] { search_range(nq * i / nthreads, nq * (i + 1) / nthreads, rows, lat); });
        search_range(0, nq / nthreads, rows, lat);
        for (auto &t : th) t.join();
        return now_s() - t0;
    }

    double recall(const std::vector<int32_t> &rows) const
    {
        double sum = 0;
        for (size_t qi = 0; qi < nq; qi++) {
            int hit = 0;
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++)
                    if (rows[qi * K + j] >= 0 && rows[qi * K + j] == gt[qi * gtk + i]) {
                        hit++;
                        break;
                    }
            sum += hit / (double)K;
        }
        return sum / (double)nq;
    }

    void sweep(const std::vector<size_t> &efs, int reps, int nthreads)
    {
        std::vector<int32_t> rows(nq * K);
        std::vector<double> lat(nq);
        for (size_t ef : efs) {
            std::vector<double> t1, t2;
            double rec = 0;
            for (int r = 0; r < reps; r++) {
                t1.push_back(search_all(ef, 1, rows.data(), lat.data()));
                if (r == 0) rec = recall(rows);
                t2.push_back(search_all(ef, nthreads, rows.data(), nullptr));
            }
            std::sort(lat.begin(), lat.end());
            std::printf("SEARCH,hnswlib,f32,%s,%zu,%.4f,%.1f,%.1f,%.1f,%.1f\n", name.c_str(), ef, rec,
                        nq / median(t1), nq / median(t2), lat[nq / 2], lat[(size_t)(nq * 0.99)]);
            std::fflush(stdout);
        }
    }

    double recall_at(size_t ef)
    {
        std::vector<int32_t> rows(nq * K);
        search_all(ef, 1, rows.data(), nullptr);
        return recall(rows);
    }

    void churn(size_t ef, double factor, double fresh_s)
    {
        size_t batch = std::max<size_t>(n / 10, 1), target = (size_t)(factor * n), done = 0;
        std::vector<size_t> perm(n);
        for (size_t i = 0; i < n; i++) perm[i] = i;
        double before = recall_at(ef), bytes_before = bytes_acct(), ins_s = 0;
        uint64_t s = 12345;  // same generator and seed as ann_bench.c: same rows churned
        while (done < target) {
            size_t m = std::min(batch, target - done);
            for (size_t i = 0; i < m; i++) {
                s = s * 6364136223846793005ULL + 1442695040888963407ULL;
                size_t j = i + (size_t)((s >> 33) % (n - i));
                std::swap(perm[i], perm[j]);
            }
            for (size_t i = 0; i < m; i++) idx->markDelete(row2label[perm[i]]);
            double t0 = now_s();
            for (size_t i = 0; i < m; i++) {
                size_t label = label2row.size();
                label2row.push_back((int32_t)perm[i]);
                row2label[perm[i]] = label;
                idx->addPoint(row(perm[i]), label, true);
            }
            ins_s += now_s() - t0;
            done += m;
        }
        double after = recall_at(ef);
        std::printf("CHURN,hnswlib,f32,%s,%zu,%.4f,%.4f,%.1f,%.1f,%zu,%.1f,%.1f\n", name.c_str(), ef,
                    before, after, n / fresh_s, done / ins_s, done, bytes_before, bytes_acct());
        std::fflush(stdout);
    }
};

void normalise(std::vector<float> &v, uint32_t dim)
{
    for (size_t r = 0; r < v.size() / dim; r++) {
        double n2 = 0;
        for (uint32_t i = 0; i < dim; i++) n2 += (double)v[r * dim + i] * v[r * dim + i];
        float inv = n2 > 0 ? (float)(1.0 / std::sqrt(n2)) : 0.0f;
        for (uint32_t i = 0; i < dim; i++) v[r * dim + i] *= inv;
    }
}

int usage()
{
    std::fprintf(stderr, "usage: hnswlib_harness --dir DIR [--name NAME] [--M 16] [--efc 200] "
                         "[--ef 16,32,...] [--reps 3] [--churn-ef 128] [--churn-factor 3] "
                         "[--no-churn] [--threads 2]\n");
    return 2;
}

}  // namespace

int main(int argc, char **argv)
{
    Bench b;
    std::string dir, eflist = "16,32,64,128,256,512";
    int reps = 3, nthreads = 2;
    bool do_churn = true;
    size_t churn_ef = 128;
    double factor = 3;
    for (int i = 1; i < argc; i++) {
        std::string a = argv[i];
        if (a == "--no-churn") { do_churn = false; continue; }
        if (i + 1 >= argc) return usage();
        std::string v = argv[++i];
        if (a == "--dir") dir = v;
        else if (a == "--name") b.name = v;
        else if (a == "--variant") { if (v != "f32") return usage(); }
        else if (a == "--M") b.M = std::stoul(v);
        else if (a == "--efc") b.efc = std::stoul(v);
        else if (a == "--ef") eflist = v;
        else if (a == "--reps") reps = std::stoi(v);
        else if (a == "--churn-ef") churn_ef = std::stoul(v);
        else if (a == "--churn-factor") factor = std::stod(v);
        else if (a == "--threads") nthreads = std::stoi(v);
        else return usage();
    }
    if (dir.empty() || reps < 1 || nthreads < 1) return usage();
    std::vector<size_t> efs;
    for (size_t p = 0; p < eflist.size();) {
        size_t e = eflist.find(',', p);
        efs.push_back(std::stoul(eflist.substr(p, e == std::string::npos ? e : e - p)));
        p = e == std::string::npos ? eflist.size() : e + 1;
    }
    uint32_t qd = 0;
    size_t gtn = 0;
    if (!read_vecs(dir + "/base.fvecs", b.base, b.n, b.dim) ||
        !read_vecs(dir + "/query.fvecs", b.q, b.nq, qd) ||
        !read_vecs(dir + "/gt.ivecs", b.gt, gtn, b.gtk) || qd != b.dim || gtn != b.nq || b.gtk < K) {
        std::fprintf(stderr, "hnswlib_harness: cannot read dataset in %s\n", dir.c_str());
        return 1;
    }
    normalise(b.base, b.dim);
    normalise(b.q, b.dim);
    b.space.reset(new hnswlib::InnerProductSpace(b.dim));

    size_t rss0 = rss_bytes();
    double t1 = b.build(1);
    size_t rss1 = rss_bytes();
    std::printf("BUILD,hnswlib,f32,%s,%zu,%u,%zu,%zu,1,%.3f,%.1f,%.1f\n", b.name.c_str(), b.n, b.dim,
                b.M, b.efc, t1, rss1 > rss0 ? (double)(rss1 - rss0) / b.n : 0.0, b.bytes_acct());
    std::fflush(stdout);
    b.sweep(efs, reps, nthreads);
    if (do_churn) b.churn(churn_ef, factor, t1);
    b.idx.reset();
    if (nthreads > 1) {
        double tn = b.build(nthreads);
        std::printf("BUILD,hnswlib,f32,%s,%zu,%u,%zu,%zu,%d,%.3f,,%.1f\n", b.name.c_str(), b.n, b.dim,
                    b.M, b.efc, nthreads, tn, b.bytes_acct());
        b.idx.reset();
    }
    return 0;
}
