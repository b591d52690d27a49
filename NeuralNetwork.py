"""The tutorial's network: a 784-100-50-10 multilayer perceptron with sigmoids.

An image goes in as 784 numbers (28 x 28 pixels in [0, 1]); ten numbers come out, one per
digit, the larger the more likely. They are raw scores (logits): CrossEntropyLoss applies
the softmax itself, so there is no activation after the last layer.
"""

import torch.nn as nn


class NeuralNet(nn.Module):
    """Three linear layers, 784 -> 100 -> 50 -> 10, with a sigmoid after the first two.

    Input: a float tensor of shape (batch, 784). Output: logits of shape (batch, 10).
    84,060 parameters: 784*100+100 + 100*50+50 + 50*10+10.
    """

    def __init__(self):
        super(NeuralNet, self).__init__()

        self.linear1 = nn.Linear(784, 100)
        self.linear2 = nn.Linear(100, 50)
        self.linear3 = nn.Linear(50, 10)

        self.sigmoid = nn.Sigmoid()

    def forward(self, x):
        x = self.linear1(x)
        x = self.sigmoid(x)
        x = self.linear2(x)
        x = self.sigmoid(x)
        x = self.linear3(x)
        return x
