"""Reward epochs: fair shares of a pool among the contributions attested in a window.

Plain Python (numpy, pandas, scikit-learn's k-means, eth-abi and eth-account for the payout
tree and signatures, matplotlib for the chart); imports nothing above lib.

``window`` names an epoch and its cutoff; ``epoch_rows`` decides which rows are new and who
holds each; ``players`` clusters them into the players of the game;
``coalitions`` trains and scores a coalition; ``shapley`` values the players (exact, or
truncated Monte Carlo within a fit budget); ``knn_shapley`` flags harmful rows;
``payouts`` turns values into integer amounts; ``payout_tree`` commits to them as an
OpenZeppelin StandardMerkleTree; ``statement`` and ``signing`` attest the epoch; ``verify``
checks it from its files; ``report`` renders its tables and chart; ``errors`` holds
RewardsError.
"""
