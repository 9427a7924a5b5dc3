// flow.js — where a target's information came from across depth (docs/method.md, "Flow across
// layers"). Each stored layer's map M_l ([source i][target j], the shown route and axis, no other
// normalization) becomes column shares S_l[i][j] = M_l[i][j] / Σ_i |M_l[i][j]|, self cell
// included, so the residual path is kept; a target not computed contributes nothing (0). From
// the target t at the output of the top layer L, w_L = e_t and, going down, the weight on the
// input of layer l is w_{l-1}[i] = Σ_j S_l[i][j] · w_l[j]: the cumulative map is the product
// S_first · … · S_L applied to e_t. Pure: arrays in, arrays out.

/** One layer's signed column shares, NaN as 0 (Float64Array n*n, [source][target]). */
export function flowShares(values, n) {
  const out = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let total = 0;
    for (let i = 0; i < n; i++) {
      const v = values[i * n + j];
      if (v === v) total += Math.abs(v);
    }
    if (total === 0) continue;
    for (let i = 0; i < n; i++) {
      const v = values[i * n + j];
      out[i * n + j] = v === v ? v / total : 0;
    }
  }
  return out;
}

/** matrices: the stored layers in order (payload order), n: axis size, target, top: position of
 * the top layer. Returns {levels: [{below, weights}]} from the top layer's output (below = null)
 * down to the first stored layer's input, and the shares used (for the graph's edges). */
export function flowFromTarget(matrices, n, target, top) {
  let weights = new Float64Array(n);
  weights[target] = 1;
  const levels = [{ below: null, weights }];
  const shares = [];
  for (let position = top; position >= 0; position--) {
    const s = flowShares(matrices[position], n);
    const next = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let acc = 0;
      const row = i * n;
      for (let j = 0; j < n; j++) acc += s[row + j] * weights[j];
      next[i] = acc;
    }
    shares.push(s);
    levels.push({ below: position, weights: next });
    weights = next;
  }
  return { levels, shares };
}
