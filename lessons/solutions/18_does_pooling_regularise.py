"""Lesson 18, solutions: does pooling regularise?"""


def head_weights(channels, side, classes, head):
    inputs = channels * side * side if head == "fc" else channels
    return (inputs + 1) * classes  # weights and one bias per class


PREDICT_PARAMS = (8 * 9 + 8) + (16 * 8 * 9 + 16) + (16 * 24 * 24 * 10 + 10)  # 93,418
