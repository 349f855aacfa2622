// The fused epilogue of the KDE engine: one distance tile (rows i in I, columns j in J) turned into per-row and
// per-column kernel sums for one bandwidth, in one sweep. Two builds share this contract: a portable one
// (kde_tile_generic.cc), an AVX2/FMA one (kde_tile_avx2.cc) and an AVX-512 one (kde_tile_avx512.cc); tests run both against the float64 reference.
//
//   dt (ti, ld) squared distances of the layer, >= 0, +inf on the diagonal of a diagonal tile
//   dz (ti, ld) squared distances of Z (null in T-only mode)
//   -> row/col (max, scaled sum) pairs for the T kernel and the joint product kernel, linear BD / same-label /
//      squared-kernel sums. All sums exclude j == i.
#pragma once
#include <cstdint>

namespace mimic::kde::detail {

struct TileIn {
  int ti = 0, tj = 0, ld = 0;
  bool diag = false;              // I == J: only row outputs (the tile holds both orders of every pair)
  const float* dt = nullptr;
  const float* dz = nullptr;      // set: joint kernel wanted
  const float* row_min_t = nullptr;  // (ti) min_j dt, +inf when the row has no off-diagonal entry
  const float* col_min_t = nullptr;  // (tj)
  float ct = 0, cz = 0;           // 1 / (2 s2)
  const int32_t* lab_i = nullptr; // labels of the tile's rows / columns (set: same-label sums wanted)
  const int32_t* lab_j = nullptr;
  bool bd = false, kk = false;
  float* scratch = nullptr;       // (ti, ld) workspace for the joint exponent
};

// Sums are relative to the row (column) maximum exponent m = -ct * min distance (joint: -min(ct dt + cz dz)):
// s = sum_j exp(x_ij - m). Row outputs have ti entries, column outputs tj (unused for diagonal tiles).
struct TileOut {
  float* row_s_t; float* col_s_t;
  float* row_m_j; float* row_s_j; float* col_m_j; float* col_s_j;  // m_j is the joint max exponent
  float* row_bd; float* col_bd;    // linear sum exp(-ct dt / 4)
  float* row_y; float* col_y;      // same-label sum, relative to the T max (like s_t)
  float* row_kk;                   // sum exp(2 (x_ij - m_t)), relative to the T max
};

void tile_generic(const TileIn& in, const TileOut& out);
void tile_avx2(const TileIn& in, const TileOut& out);
void tile_avx512(const TileIn& in, const TileOut& out);

// Tile widths are padded to this many columns (the widest vector kernel's lane count).
constexpr int kTilePad = 16;
inline int pad_cols(int n) { return (n + kTilePad - 1) / kTilePad * kTilePad; }

// Gram tile -> clamped squared distances, diagonal forced to +inf on diagonal tiles, and row / column minima.
// g (ti, ld) holds x_i . x_j of centred data; ni, nj squared norms. Columns tj..pad_cols(tj) are set to +inf
// (ld must be at least that wide) so vector kernels can run over the padded width.
void finish_distances(float* g, int ti, int tj, int ld, const float* ni, const float* nj, bool diag,
                      float* row_min, float* col_min);

}  // namespace mimic::kde::detail
